"""Content-Security-Policy: the strict header on every kind of response (public, buyer,
company, API, admin, errors, the deposit page that encrypts the bid), with the production
settings' middleware too, and the report endpoint that journals violations (rate-limited,
never a 500 on junk)."""

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client, override_settings
from django.urls import reverse

from config import csp
from marches import services
from preuves.models import JournalEntry
from tests.factories import MembershipFactory, UserFactory
from tests.helpers import login_as
from tests.marches.test_services import publishable
from tests.servers import free_port

ROOT = Path(__file__).resolve().parent.parent
STRICT = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
    "report-uri": "/csp/rapport",
    "report-to": "csp",
}


def directives(header: str) -> dict[str, str]:
    parts = (part.strip().split(None, 1) for part in header.split(";") if part.strip())
    return {part[0]: part[1] if len(part) > 1 else "" for part in parts}


def assert_strict(response):
    header = response.headers.get("Content-Security-Policy")
    assert header, f"no Content-Security-Policy on {response.request['PATH_INFO']}"
    assert directives(header) == STRICT, header
    assert "unsafe" not in header
    assert response.headers["Reporting-Endpoints"] == 'csp="http://testserver/csp/rapport"'


@pytest.fixture
def deposit_page(buyer_agent):
    consultation, _ = publishable(buyer_agent, reference="2026-CSP-1")
    return services.consultation_publish(consultation=consultation, published_by=buyer_agent.user)


@pytest.mark.django_db
def test_every_kind_of_page_carries_the_strict_policy(client, buyer_agent, deposit_page):
    consultation = deposit_page
    public = [
        reverse("home"),
        reverse("marches:search"),
        reverse("marches:detail", args=[consultation.pk]),
        reverse("preuves:index"),
        reverse("offres:encryption_code"),
        reverse("comptes:login"),
        "/healthz",
        "/nulle-part/",  # the 404 page
        reverse("api:consultations"),
        reverse("api:schema"),
        reverse("api:docs"),
        reverse("api:docs") + "?script",
    ]
    for url in public:
        assert_strict(client.get(url))
    # A forged Host is refused (400) with the policy all the same.
    with override_settings(ALLOWED_HOSTS=["plateforme.example"]):
        forged = client.get("/", HTTP_HOST="evil.example")
    assert forged.status_code == 400
    assert directives(forged.headers["Content-Security-Policy"]) == STRICT
    # A POST refused by CSRF (403) too.
    refused = Client(enforce_csrf_checks=True).post(reverse("comptes:login"), {"username": "x"})
    assert refused.status_code == 403
    assert_strict(refused)

    company = MembershipFactory(company_admin=True).user
    login_as(client, company)
    for url in [
        reverse("offres:deposit_new", args=[consultation.pk]),
        reverse("offres:deposit_list"),
        reverse("comptes:account"),
        reverse("api:me"),
    ]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert_strict(response)

    login_as(client, buyer_agent.user)
    for url in [reverse("marches:buyer_list"), reverse("marches:buyer_detail", args=[consultation.pk])]:
        response = client.get(url)
        assert response.status_code == 200, url
        assert_strict(response)

    login_as(client, UserFactory(staff=True, totp=True))
    response = client.get("/" + settings.ADMIN_URL)
    assert response.status_code == 200
    assert_strict(response)


@pytest.mark.django_db
def test_the_deposit_page_loads_no_inline_script_and_the_bundle_with_its_integrity(client, deposit_page):
    from offres.bundle import bundle_digest

    login_as(client, MembershipFactory(company_admin=True).user)
    html = client.get(reverse("offres:deposit_new", args=[deposit_page.pk])).content.decode()
    assert f'integrity="{bundle_digest().integrity}"' in html
    # Every script has a src (application/json data blocks never run).
    for chunk in html.split("<script")[1:]:
        tag = chunk.split(">", 1)[0]
        assert " src=" in tag or 'type="application/json"' in tag, tag
    assert not INLINE_CODE.search(html)


# An inline event handler (onclick=…), a style attribute, a javascript: address, or a script
# element with a body.
INLINE_CODE = re.compile(
    r"""\son[a-z]+\s*=|\sstyle\s*=|javascript:|<script(?![^>]*\ssrc=)(?![^>]*type="application/json")[^>]*>""",
    re.IGNORECASE,
)


def test_no_template_has_inline_code():
    """What the policy would refuse in a browser, found where it is written (the browser
    tests find the rest, e.g. what a script writes into the page)."""
    found = [
        f"{path.relative_to(ROOT)}: {match.group(0)}"
        for path in sorted((ROOT / "templates").rglob("*.html"))
        for match in INLINE_CODE.finditer(path.read_text())
    ]
    assert not found, found


def test_the_production_settings_send_the_policy_first():
    """config.settings.production, as gunicorn loads it: the middleware is there, first (the
    responses of WhiteNoise and of the HTTPS redirect would otherwise go out without the
    header), and the policy is the strict one."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "x" * 50,
        "ALLOWED_HOSTS": "plateforme.example",
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    script = (
        "import django, json; django.setup(); from django.conf import settings; "
        "from csp.utils import build_policy; "
        "print(json.dumps({'middleware': settings.MIDDLEWARE, 'policy': build_policy()}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    found = json.loads(out.stdout.strip().splitlines()[-1])
    middleware = found["middleware"]
    assert "config.csp.CSPMiddleware" in middleware
    assert middleware[0] == "config.csp.CSPMiddleware"
    assert directives(found["policy"]) == STRICT


# --- The report endpoint ------------------------------------------------------------------

REPORT_URI_BODY = {
    "csp-report": {
        "document-uri": "http://testserver/comptes/mot-de-passe/nouveau/MQ/secret-token/",
        "referrer": "",
        "violated-directive": "script-src-elem",
        "effective-directive": "script-src-elem",
        "original-policy": "default-src 'self'",
        "disposition": "enforce",
        "blocked-uri": "https://evil.example/steal.js?bid=1",
        "line-number": 12,
        "source-file": "http://testserver/static/offres/build/chiffrement.js",
        "status-code": 200,
        "script-sample": "",
    }
}
REPORT_TO_BODY = [
    {
        "age": 3,
        "type": "csp-violation",
        "url": "http://testserver/plis/mes-plis/",
        "user_agent": "Chromium",
        "body": {
            "documentURL": "http://testserver/plis/mes-plis/",
            "effectiveDirective": "script-src-elem",
            "blockedURL": "inline",
            "sample": "alert(document.cookie)",
            "disposition": "enforce",
            "lineNumber": 3,
            "columnNumber": 7,
        },
    }
]


@pytest.fixture(autouse=True)
def _fresh_rate_limit():
    cache.clear()
    yield
    cache.clear()


def post(client, body, content_type="application/csp-report", **extra):
    data = body if isinstance(body, bytes | str) else json.dumps(body)
    return client.post(reverse("csp_report"), data=data, content_type=content_type, **extra)


@pytest.mark.django_db
def test_a_report_uri_violation_is_journaled_without_the_page_address(client):
    assert reverse("csp_report") == STRICT["report-uri"]
    response = post(client, REPORT_URI_BODY, REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 204
    entry = JournalEntry.objects.get(action="csp.violation")
    assert entry.payload["page"] == "comptes:password_reset_confirm"
    assert entry.payload["directive"] == "script-src-elem"
    assert entry.payload["blocked"] == "https://evil.example"
    assert entry.payload["source"] == "/static/offres/build/chiffrement.js"
    assert entry.payload["line"] == 12
    assert entry.payload["ip"] == "203.0.113.9"
    assert "secret-token" not in json.dumps(entry.payload)
    assert "steal" not in json.dumps(entry.payload)


@pytest.mark.django_db
def test_a_reporting_api_violation_is_journaled_with_the_signed_in_user(client):
    user = MembershipFactory(company_admin=True).user
    login_as(client, user)
    response = post(client, REPORT_TO_BODY, content_type="application/reports+json")
    assert response.status_code == 204
    entry = JournalEntry.objects.get(action="csp.violation")
    assert entry.actor_id == user.pk
    assert entry.payload["page"] == "offres:deposit_list"
    assert (entry.payload["blocked"], entry.payload["sample"]) == ("inline", "alert(document.cookie)")
    assert (entry.payload["line"], entry.payload["column"]) == (3, 7)


JUNK = [
    b"",
    b"not json",
    b"\xff\xfe\x00garbage",
    b"[" * 20000,
    b'{"csp-report": "string"}',
    b'{"csp-report": {"line-number": "x", "document-uri": 5, "blocked-uri": ["a"]}}',
    b'[{"type": "deprecation", "body": {}}]',
    b'[{"type": "csp-violation", "body": {"documentURL": "http://[::1", "blockedURL": "http://[bad"}}]',
    b"null",
    b"42",
    b'{"csp-report": {"document-uri": "' + b"a" * 100 + b'"}}',
]


@pytest.mark.django_db
@pytest.mark.parametrize("body", JUNK)
def test_junk_bodies_get_a_clear_answer_never_a_500(client, body):
    response = post(client, body)
    assert response.status_code in (204, 400), response.content
    if response.status_code == 400:
        assert "rapport de violation" in response.content.decode()
    for entry in JournalEntry.objects.filter(action="csp.violation"):
        assert all(len(str(value)) <= csp.FIELD_MAX_CHARS + 10 for value in entry.payload.values())


@pytest.mark.django_db
def test_an_oversized_report_is_refused_unread(client):
    body = {"csp-report": {"script-sample": "x" * (csp.REPORT_MAX_BYTES + 1)}}
    assert post(client, body).status_code == 413
    assert not JournalEntry.objects.filter(action="csp.violation").exists()


@pytest.mark.django_db
def test_only_post(client):
    assert client.get(reverse("csp_report")).status_code == 405


@pytest.mark.django_db
def test_reports_are_rate_limited_per_address_and_overall(client, monkeypatch):
    monkeypatch.setattr(csp, "REPORTS_PER_ADDRESS", 3)
    monkeypatch.setattr(csp, "REPORTS_OVERALL", 5)
    for _ in range(6):
        assert post(client, REPORT_URI_BODY, REMOTE_ADDR="198.51.100.1").status_code == 204
    assert JournalEntry.objects.filter(action="csp.violation").count() == 3
    # A batch of reports counts each one.
    batch = REPORT_TO_BODY * 4
    post(client, batch, content_type="application/reports+json", REMOTE_ADDR="198.51.100.2")
    assert JournalEntry.objects.filter(action="csp.violation").count() == 5
    # The platform's budget is spent: another address is dropped too.
    post(client, REPORT_URI_BODY, REMOTE_ADDR="198.51.100.3")
    assert JournalEntry.objects.filter(action="csp.violation").count() == 5


# --- Behind gunicorn, with the production settings ------------------------------------------

GUNICORN = Path(sys.executable).with_name("gunicorn")
PRODUCTION_UNDER_TEST = '''
"""config.settings.production, middleware and all, on the test's database; static files
served by WhiteNoise from the apps' folders (no collectstatic in a test)."""
import json, os
from config.settings.production import *  # noqa
# The test's database, without the embedded default's SQLite options (WAL, immediate transactions).
DATABASES = {
    "default": {**DATABASES["default"], **json.loads(os.environ["CSP_TEST_DATABASE"]), "OPTIONS": {}}
}
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
WHITENOISE_USE_FINDERS = True
'''


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(url: str, cookie: str = "", data: bytes | None = None, content_type: str = "", https: bool = True):
    """As nginx forwards a request (X-Forwarded-Proto: https), redirects not followed."""
    request = urllib.request.Request(url, data=data, headers={"X-Forwarded-Proto": "https"} if https else {})
    if cookie:
        request.add_header("Cookie", cookie)
    if content_type:
        request.add_header("Content-Type", content_type)
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def session_cookie(user) -> str:
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from comptes.services import SESSION_2FA_VERIFIED

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session[SESSION_2FA_VERIFIED] = True
    session.save()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


@pytest.fixture
def gunicorn(transactional_db, tmp_path):
    from django.db import connection

    if not GUNICORN.exists():
        pytest.skip("needs gunicorn (requirements/production.txt)")
    (tmp_path / "production_under_test.py").write_text(PRODUCTION_UNDER_TEST)
    database = {
        k: connection.settings_dict[k] for k in ("ENGINE", "NAME", "USER", "PASSWORD", "HOST", "PORT")
    }
    port = free_port()
    unset = {"DJANGO_ALLOW_ASYNC_UNSAFE", "DATABASE_URL"}
    env = {k: v for k, v in os.environ.items() if k not in unset} | {
        "DJANGO_SETTINGS_MODULE": "production_under_test",
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}",
        "SECRET_KEY": settings.SECRET_KEY,  # the sessions made here must be valid there
        "ALLOWED_HOSTS": "127.0.0.1",
        "CSP_TEST_DATABASE": json.dumps(database, default=str),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "PREUVES_KEY_DIR": str(settings.PREUVES_KEY_DIR),
    }
    log = tmp_path / "gunicorn.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(GUNICORN), "--config", "docker/gunicorn.conf.py", "--bind", f"127.0.0.1:{port}",
             "--workers", "1", "--worker-tmp-dir", str(tmp_path), "config.wsgi:application"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                fetch(url + "/healthz")
                break
            except OSError:
                if process.poll() is not None:
                    break
                time.sleep(0.2)
        else:
            pytest.fail(f"gunicorn did not start:\n{log.read_text()}")
        if process.poll() is not None:
            pytest.fail(f"gunicorn stopped:\n{log.read_text()}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_behind_gunicorn_every_sampled_response_carries_the_strict_policy(gunicorn, buyer_agent):
    from offres.bundle import bundle_digest

    consultation, _ = publishable(buyer_agent, reference="2026-CSP-G")
    consultation = services.consultation_publish(consultation=consultation, published_by=buyer_agent.user)
    company = MembershipFactory(company_admin=True).user
    staff = UserFactory(staff=True, totp=True)
    sample = {
        "": [
            "/",
            "/healthz",
            reverse("marches:search"),
            reverse("marches:detail", args=[consultation.pk]),
            reverse("offres:encryption_code"),
            reverse("comptes:login"),
            "/nulle-part/",
            reverse("api:consultations"),
            reverse("api:docs"),
            "/" + settings.ADMIN_URL,  # a redirect to the admin's login
            "/static/offres/build/chiffrement.js",  # served by WhiteNoise
        ],
        session_cookie(company): [
            reverse("offres:deposit_new", args=[consultation.pk]),
            reverse("offres:deposit_list"),
            reverse("api:me"),
        ],
        session_cookie(buyer_agent.user): [reverse("marches:buyer_detail", args=[consultation.pk])],
        session_cookie(staff): ["/" + settings.ADMIN_URL],
    }
    statuses = {}
    for cookie, urls in sample.items():
        for url in urls:
            status, headers, body = fetch(gunicorn + url, cookie)
            statuses[url] = status
            assert status < 500, (url, body[:2000])
            assert "Content-Security-Policy" in headers, url
            assert directives(headers["Content-Security-Policy"]) == STRICT, url
            assert headers["Reporting-Endpoints"] == f'csp="https://{gunicorn[7:]}/csp/rapport"', url
            if url.endswith("/deposer/"):
                assert status == 200
                assert f'integrity="{bundle_digest().integrity}"'.encode() in body
    assert statuses["/" + settings.ADMIN_URL] == 200  # the staff's admin index
    assert statuses["/static/offres/build/chiffrement.js"] == 200
    # Plain HTTP, as if nginx were skipped: SecurityMiddleware's redirect to HTTPS has it too.
    status, headers, _ = fetch(gunicorn + "/", https=False)
    assert status == 301
    assert directives(headers["Content-Security-Policy"]) == STRICT
    # The report endpoint answers there too (no CSRF token in a browser's report).
    status, _, _ = fetch(gunicorn + "/csp/rapport", data=json.dumps(REPORT_URI_BODY).encode(),
                         content_type="application/csp-report")  # fmt: skip
    assert status == 204
    assert JournalEntry.objects.filter(action="csp.violation").count() == 1
