"""Public proof endpoints, no login: the TSA, the transparency log, the verification page.

Their URLs are stable and documented in docs/verifier.md. Errors use the platform's one
JSON shape, `{"error": {"code", "message", "details"}}`, with the message in French.
"""

from __future__ import annotations

import functools
import re

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from config.errors import ApplicationError

from . import keys, log, timestamps, tsa, verifier, witness
from .forms import BundleForm
from .models import Checkpoint

PEM_TYPE = "application/x-pem-file"


def _error(code: str, message: str, status: int = 400) -> JsonResponse:
    response = JsonResponse({"error": {"code": code, "message": message, "details": {}}}, status=status)
    response["Access-Control-Allow-Origin"] = "*"
    return response


def _json(data) -> JsonResponse:
    response = JsonResponse(data, json_dumps_params={"ensure_ascii": False})
    # Anyone may fetch proofs, from any page: a third-party verifier in a browser included.
    response["Access-Control-Allow-Origin"] = "*"
    response["Cache-Control"] = "no-cache"
    return response


MAX_INDEX = 2**63 - 1  # what the database's bigint holds


def _int_param(request: HttpRequest, name: str) -> int:
    raw = request.GET.get(name)
    if raw is None or raw == "":
        raise ApplicationError(f"paramètre « {name} » manquant", code="missing_parameter")
    # ASCII digits only: str.isdigit() also admits "²" and "١٢", which int() refuses or reads.
    if not re.fullmatch(r"[0-9]{1,19}", raw) or int(raw) > MAX_INDEX:
        raise ApplicationError(
            f"le paramètre « {name} » doit être un entier positif ou nul (au plus {MAX_INDEX}), "
            f"pas « {raw[:40]} »"
        )
    return int(raw)


def _protocol(*methods: str):
    """Allow `methods` only, and turn a refused request into its JSON error in French,
    never a server error nor an empty 405."""

    def decorate(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.method not in methods:
                response = _error(
                    "method_not_allowed",
                    f"méthode HTTP {request.method} non autorisée ici : {', '.join(methods)} attendu",
                    status=405,
                )
                response["Allow"] = ", ".join(methods)
                return response
            try:
                return view(request, *args, **kwargs)
            except ApplicationError as exc:
                return _error(exc.code, exc.message, exc.status)

        return wrapped

    return decorate


# --- Time-stamping authority ------------------------------------------------------------


@csrf_exempt
@_protocol("POST")
def tsa_endpoint(request: HttpRequest) -> HttpResponse:
    """RFC 3161 over HTTP (§3.4): a DER TimeStampReq in, a DER TimeStampResp out. A refused
    query gets HTTP 400 with a TimeStampResp whose statusString says why, in French."""
    if settings.TSA_URL:
        return _error(
            "external_tsa",
            "Cette plateforme fait horodater ses preuves par une autorité externe : "
            "adressez vos requêtes à celle-ci.",
            status=404,
        )
    content_type = request.content_type or ""
    if content_type != timestamps.QUERY_TYPE:
        return _error(
            "unsupported_media_type",
            f"type de contenu « {content_type or 'absent'} » : {timestamps.QUERY_TYPE} attendu",
            status=415,
        )
    try:
        length = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        return _error("bad_request", "en-tête Content-Length invalide")
    if length > tsa.MAX_QUERY_BYTES:
        return _error("too_large", f"requête de {length} octets, {tsa.MAX_QUERY_BYTES} au plus", status=413)
    query = request.read(tsa.MAX_QUERY_BYTES + 1)
    body, granted = tsa.answer(query)
    return HttpResponse(body, content_type=timestamps.REPLY_TYPE, status=200 if granted else 400)


def _pem(text: str, filename: str) -> HttpResponse:
    response = HttpResponse(text, content_type=PEM_TYPE)
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["Access-Control-Allow-Origin"] = "*"
    return response


@_protocol("GET")
def tsa_ca(request: HttpRequest) -> HttpResponse:
    """The certificates that verify the TSA's tokens (`openssl ts -verify -CAfile`)."""
    return _pem(timestamps.ca_pem(), "tsa-ca.pem")


# --- Transparency log ---------------------------------------------------------------------


@_protocol("GET")
def log_checkpoint(request: HttpRequest) -> JsonResponse:
    """The latest signed tree head, or the one of `?size=N` when that one was published."""
    if "size" in request.GET:
        size = _int_param(request, "size")
        point = Checkpoint.objects.filter(size=size).select_related("timestamp").first()
        if point is None:
            raise ApplicationError(
                f"aucun point de contrôle publié pour la taille {size}", code="not_found", status=404
            )
    else:
        point = Checkpoint.objects.select_related("timestamp").order_by("-size").first() or log.checkpoint()
    return _json(log.checkpoint_json(point))


@_protocol("GET")
def log_leaves(request: HttpRequest) -> JsonResponse:
    start = _int_param(request, "start")
    end = _int_param(request, "end")
    return _json({"start": start, "end": end, "leaves": log.leaves(start, end)})


@_protocol("GET")
def log_inclusion(request: HttpRequest) -> JsonResponse:
    index = _int_param(request, "index")
    size = _int_param(request, "size")
    return _json(log.inclusion(index, size))


@_protocol("GET")
def log_consistency(request: HttpRequest) -> JsonResponse:
    first = _int_param(request, "first")
    second = _int_param(request, "second")
    return _json(log.consistency(first, second))


@_protocol("GET")
def log_key(request: HttpRequest) -> HttpResponse:
    material = keys.material()
    response = _pem(material.log_public_key_pem, "journal-transparence.pem")
    response["X-Key-Fingerprint-SHA256"] = material.log_key_fingerprint
    return response


MAX_WITNESS_BODY = 64 * 1024


def _text(text: str, status: int = 200, content_type: str = "text/plain; charset=utf-8") -> HttpResponse:
    response = HttpResponse(text, content_type=content_type, status=status)
    response["Access-Control-Allow-Origin"] = "*"
    return response


@csrf_exempt
@_protocol("POST")
def log_cosignatures(request: HttpRequest) -> JsonResponse:
    """A configured witness hands back its cosignature lines of the checkpoint `?size=N`;
    they are checked against its key (PREUVES_WITNESSES) and published with the checkpoint."""
    size = _int_param(request, "size")
    body = request.read(MAX_WITNESS_BODY + 1)
    if len(body) > MAX_WITNESS_BODY:
        raise ApplicationError(f"au plus {MAX_WITNESS_BODY} octets", code="too_large", status=413)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApplicationError("contresignature illisible : UTF-8 attendu", code="cosignature") from None
    stored = witness.accept_cosignatures(size, text)
    response = _json({"size": size, "cosignatures": [c.line for c in stored]})
    response.status_code = 201
    return response


@csrf_exempt
def witness_add_checkpoint(request: HttpRequest) -> HttpResponse:
    """C2SP tlog-witness `add-checkpoint`: this platform as a witness of the logs it is
    configured for (PREUVES_WITNESSED_LOGS). Plain-text answers and the spec's status codes."""
    if request.method != "POST":
        response = _text("POST attendu\n", status=405)
        response["Allow"] = "POST"
        return response
    body = request.read(MAX_WITNESS_BODY + 1)
    if len(body) > MAX_WITNESS_BODY:
        return _text(f"requête de plus de {MAX_WITNESS_BODY} octets\n", status=413)
    try:
        return _text(witness.add_checkpoint(body))
    except witness.WitnessError as exc:
        if exc.status == 409 and exc.size is not None:
            return _text(f"{exc.size}\n", status=409, content_type=witness.SIZE_TYPE)
        return _text(exc.message + "\n", status=exc.status)


# --- Pages ------------------------------------------------------------------------------


def index(request: HttpRequest) -> HttpResponse:
    head = log.current_head()
    material = keys.material()
    return render(
        request,
        "preuves/index.html",
        {
            "head": head,
            "latest": Checkpoint.objects.select_related("timestamp").order_by("-size").first(),
            "log_fingerprint": material.log_key_fingerprint,
            "origin": settings.PREUVES_LOG_ORIGIN,
            "external_tsa": bool(settings.TSA_URL),
        },
    )


@require_http_methods(["GET", "POST"])
def verify_page(request: HttpRequest) -> HttpResponse:
    """ "Vérifier une preuve": the standalone verifier's checks on an uploaded bundle."""
    report, facts = None, []
    if request.method == "POST":
        form = BundleForm(request.POST, request.FILES)
        if form.is_valid():
            report = form.verify()
            facts = [
                (verifier.FACT_LABELS.get(k, k), verifier.format_fact(v)) for k, v in report.facts.items()
            ]
    else:
        form = BundleForm()
    return render(request, "preuves/verify.html", {"form": form, "report": report, "facts": facts})
