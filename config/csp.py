"""Content-Security-Policy: the header on every response, and where browsers report breaches.

The policy itself is `CONTENT_SECURITY_POLICY` in config/settings/base.py (django-csp 4).
This module adds:

- `CSPMiddleware`: django-csp's middleware, plus the `Reporting-Endpoints` header that names
  the endpoint of the policy's `report-to csp` (the Reporting API; `report-uri` is the older
  form that browsers still use when they do not support it).
- `report`: `POST /csp/rapport`, which journals each violation (`csp.violation`). Anyone may
  post to it, so it trusts nothing in the body: at most REPORT_MAX_BYTES read, at most
  REPORTS_PER_REQUEST reports kept, each field cut short, the page named by its route and
  never by its address (an address may carry a password-reset token), other origins reduced
  to their scheme and host. Junk gets a 400 in French, never a 500.
- Rate limit: at most REPORTS_PER_ADDRESS violations journaled per client address and
  REPORTS_OVERALL in all per REPORT_WINDOW seconds, counted in Django's cache. With the
  default local-memory cache the counts are per process (so at most that many times the
  number of gunicorn workers); with a shared cache (Redis) they hold for the platform. Reports
  beyond the limit are answered 204 like the others and dropped: the journal is not a place an
  outsider can fill.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urlsplit

from csp.middleware import CSPMiddleware as BaseCSPMiddleware
from django.core.cache import cache
from django.core.exceptions import DisallowedHost
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.http.request import RawPostDataException
from django.urls import Resolver404, resolve
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from comptes.network import client_ip
from preuves import journal

REPORT_PATH = "/csp/rapport"
REPORT_ENDPOINT = "csp"
REPORT_MAX_BYTES = 32 * 1024
REPORTS_PER_REQUEST = 10
REPORT_WINDOW = 10 * 60
REPORTS_PER_ADDRESS = 20
REPORTS_OVERALL = 200
FIELD_MAX_CHARS = 200
# Values of blocked-uri / blockedURL that are keywords, not addresses.
KEYWORDS = {
    "inline",
    "eval",
    "wasm-eval",
    "data",
    "blob",
    "self",
    "trusted-types-policy",
    "trusted-types-sink",
}


class CSPMiddleware(BaseCSPMiddleware):
    def process_response(self, request, response):
        response = super().process_response(request, response)
        if "Content-Security-Policy" in response and "Reporting-Endpoints" not in response:
            # An absolute address, as every example of the Reporting API gives it (https in
            # production: SECURE_PROXY_SSL_HEADER).
            try:
                endpoint = request.build_absolute_uri(REPORT_PATH)
            except DisallowedHost:  # the 400 for a forged Host: report-uri only
                return response
            response["Reporting-Endpoints"] = f'{REPORT_ENDPOINT}="{endpoint}"'
        return response


# Control characters (NUL included: PostgreSQL's jsonb refuses it) and lone surrogates (a
# JSON escape like \ud800 decodes to one, which no UTF-8 encoder takes): dropped from reports.
_UNSTORABLE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")


def _text(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return ""
    return _UNSTORABLE.sub("", str(value)[: FIELD_MAX_CHARS * 2])[:FIELD_MAX_CHARS]


def _number(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if 0 <= value < 10**9 else None


def _page(url: str) -> str:
    """The route of a page of this platform (`offres:deposit_new`), never its address."""
    path = urlsplit(url).path if url else ""
    try:
        match = resolve(path or "/")
    except (Resolver404, ValueError):
        return "inconnue"
    return (match.view_name or "inconnue")[:FIELD_MAX_CHARS]


def _origin_or_path(url: str, request: HttpRequest) -> str:
    """What was blocked or which script ran: a keyword, a path of this platform, or only the
    scheme and host of anything else (its path and query are none of the journal's business)."""
    if not url:
        return ""
    if url in KEYWORDS:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return "illisible"
    if parts.scheme in ("http", "https"):
        if parts.netloc == request.get_host():
            return parts.path[:FIELD_MAX_CHARS]
        return f"{parts.scheme}://{parts.hostname or ''}"[:FIELD_MAX_CHARS]
    return (parts.scheme or "illisible")[:FIELD_MAX_CHARS]


def _normalise(report: dict, request: HttpRequest) -> dict:
    """One violation from either format: `report-uri`'s kebab-case fields or the Reporting
    API's camelCase `body`."""

    def field(*names: str) -> Any:
        for name in names:
            if name in report:
                return report[name]
        return None

    return {
        "page": _page(_text(field("document-uri", "documentURL"))),
        "directive": _text(field("effective-directive", "effectiveDirective", "violated-directive")),
        "blocked": _origin_or_path(_text(field("blocked-uri", "blockedURL")), request),
        "source": _origin_or_path(_text(field("source-file", "sourceFile")), request),
        "line": _number(field("line-number", "lineNumber")),
        "column": _number(field("column-number", "columnNumber")),
        "sample": _text(field("script-sample", "sample"))[:80],
        "disposition": _text(field("disposition"))[:20],
    }


def _reports(body: Any) -> list[dict]:
    """The violations of a body, or ValueError when it is not a CSP report at all."""
    if isinstance(body, dict) and isinstance(body.get("csp-report"), dict):
        return [body["csp-report"]]
    if isinstance(body, list):
        found = [
            item["body"]
            for item in body[:REPORTS_PER_REQUEST]
            if isinstance(item, dict)
            and item.get("type") == "csp-violation"
            and isinstance(item.get("body"), dict)
        ]
        if found or not body:
            return found
    raise ValueError("not a CSP report")


def _count(key: str) -> int:
    cache.add(key, 0, timeout=REPORT_WINDOW)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=REPORT_WINDOW)
        return 1


def _allowed(address: str) -> bool:
    """Counts one report against the address's budget of the window, then, if it is within
    it, against the platform's (so that one noisy address cannot spend everyone's)."""
    if _count(f"csp-report:{address}") > REPORTS_PER_ADDRESS:
        return False
    return _count("csp-report:*") <= REPORTS_OVERALL


def _refusal(message: str, status: int) -> HttpResponse:
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


@csrf_exempt
@require_POST
def report(request: HttpRequest) -> HttpResponse:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > REPORT_MAX_BYTES:
        return _refusal("Rapport trop volumineux.", 413)
    try:
        raw = request.read(REPORT_MAX_BYTES + 1)
    except RawPostDataException:  # a middleware read the body first
        raw = request.body
    if len(raw) > REPORT_MAX_BYTES:
        return _refusal("Rapport trop volumineux.", 413)
    try:
        violations = [_normalise(item, request) for item in _reports(json.loads(raw))]
    except (ValueError, RecursionError):
        return _refusal("Ce n'est pas un rapport de violation de la politique de sécurité du contenu.", 400)
    address = client_ip(request)
    user = (
        request.user if getattr(request, "user", None) is not None and request.user.is_authenticated else None
    )
    with transaction.atomic():
        for violation in violations:
            if not _allowed(address):
                break
            journal.record(
                "csp.violation",
                actor=user,
                payload={
                    **violation,
                    "ip": address,
                    "user_agent": _text(request.META.get("HTTP_USER_AGENT")),
                },
            )
    return HttpResponse(status=204)
