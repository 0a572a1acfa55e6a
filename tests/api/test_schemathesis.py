"""The whole API against its own OpenAPI schema: schemathesis generates requests from
/api/schema/ (valid ones and invalid ones, every operation) and runs all its checks on each
answer — no server error, only documented status codes, content types and headers, bodies
that match the documented schema, valid data accepted and invalid data refused.

It runs once per role (anonymous, a company member, a buyer agent, a commission member), each
with a personal token, against the WSGI application in the test's own transaction, with real
ids: a published consultation of the buyer, an open deposit of the company (a file still to
upload) and a received one, so that the deposit routes answer past their 404.

Reproducible in CI: a fixed number of examples per operation, derandomized, no example
database."""

from __future__ import annotations

import io
import os

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.pytest.lazy import get_all_tests

from api.fields import cpv_codes
from comptes.services import api_token_create
from config.errors import ApplicationError
from config.wsgi import application
from marches import services
from marches.archive import safe_relative_path
from offres import deposits
from tests.factories import MembershipFactory
from tests.marches.test_services import publishable
from tests.offres import builders

# The schema's format « cpv »: a code of the nomenclature, in either spelling.
# An index drawn, not sampled_from: schemathesis filters format values, and hypothesis then
# walks a filtered sampled_from's 18,908 elements on every draw.
CODES = cpv_codes()
schemathesis.openapi.format("cpv", st.integers(0, len(CODES) - 1).map(CODES.__getitem__))

POSITIVE_STATUSES = ["2xx", "3xx", "401", "403", "404", "409", "429"]
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", 10))
ROLES = ["anonyme", "entreprise", "agent_acheteur", "commission"]


def _world(role: str) -> dict:
    buyer_agent = MembershipFactory(buyer_agent=True, user__totp=True)
    consultation, members = publishable(buyer_agent, reference="2026-ST-1")
    consultation = services.consultation_publish(consultation=consultation, published_by=buyer_agent.user)
    company = MembershipFactory(company_admin=True)
    ciphertext = builders.encrypt_to(consultation, "offer", b"offre " * 100)
    received = builders.receive(consultation, company.user, [("offer", "offre.pdf.age", ciphertext)])
    # A file whose age header is in (its first chunk received), a hundred bytes still to come.
    opened = builders.uploaded(consultation, company.user, [])
    pending = deposits.file_add(
        deposit=opened, user=company.user, envelope="offer", name="suite.pdf.age", size=len(ciphertext)
    )
    first = ciphertext[:-100]
    deposits.chunk_receive(
        file=pending, user=company.user, offset=0, stream=io.BytesIO(first), length=len(first)
    )
    user = {
        "anonyme": None,
        "entreprise": company.user,
        "agent_acheteur": buyer_agent.user,
        "commission": members[0],
    }[role]
    headers = {}
    if user is not None:
        headers["Authorization"] = f"Bearer {api_token_create(user=user, name='schemathesis')[1]}"
    return {
        "headers": headers,
        "consultation": consultation.pk,
        "received": str(received.public_id),
        "opened": str(opened.public_id),
        "file": pending.pk,
        "commission_members": [member.pk for member in members],
    }


@pytest.fixture
def _connection_kept():
    # The WSGI handler closes the database connection around each request; Django's test client
    # keeps it (the test's transaction lives on it), and so does this.
    for signal in (signals.request_started, signals.request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (signals.request_started, signals.request_finished):
        signal.connect(close_old_connections)


@pytest.fixture(params=ROLES)
def api_schema(request, db, _connection_kept):
    world = _world(request.param)
    config = SchemathesisConfig.from_dict(
        {
            "headers": world["headers"],
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
            # Not the string literals of the application's modules as inputs: importing and
            # walking them all costs more than the run.
            "analysis": {"constants": {"enabled": False}},
            "parameters": {"id": world["consultation"], "public_id": world["received"]},
            "operations": [
                {
                    "include-path-regex": "/contenu$",
                    "parameters": {"public_id": world["opened"], "file_id": world["file"]},
                    # A chunk longer than what the file still lacks is refused (413): the
                    # bound is the file's state, which no schema can state.
                    "checks": {
                        "positive_data_acceptance": {
                            "expected-statuses": [*POSITIVE_STATUSES, "413"],
                        }
                    },
                }
            ],
        }
    )
    schema = schemathesis.openapi.from_wsgi("/api/schema/", application, config=config)
    schema.hook("map_case")(_consistent(world))
    return schema


def _consistent(world: dict):
    """Rules across fields that a JSON schema cannot state, and that the schema's
    descriptions do (a valid request then satisfies them): the president is one of the
    members, the quorum at most their number, the members this buyer's commission; lot
    numbers are distinct, and never exactly one lot; the files of an upload have distinct
    names; a value is required (estimated_value) unless lots give it; a folder is a safe
    relative path, components of at most 255 bytes; the lots' sum, the value, stays within 12
    digits. Only on requests meant to be valid."""

    def map_case(context, case):
        body = case.body
        if not (case.meta and case.meta.generation.mode.is_positive and isinstance(body, dict)):
            return case
        if isinstance(body.get("commission"), dict):
            members = world["commission_members"]
            body["commission"] = {"members": members, "president": members[0], "quorum": 2}
        creating = case.operation.method.upper() == "POST" and case.operation.path.endswith(
            "/buyer/consultations/"
        )
        if creating and "estimated_value" not in body and not body.get("lots"):
            body["estimated_value"] = "100000"
        folder = body.get("folder")
        if isinstance(folder, str) and folder:
            try:
                safe_relative_path(folder)
            except ApplicationError:
                del body["folder"]
        files = body.get("files")
        if isinstance(files, list) and len(files) > 1:
            body["files"] = files[:1]  # one name per file in an upload (schemathesis reuses it)
        lots = body.get("lots")
        if isinstance(lots, list) and all(isinstance(lot, dict) for lot in lots):
            for number, lot in enumerate(lots, start=1):
                lot["number"] = number
            if len(lots) == 1:
                lots.append({**lots[0], "number": 2})
            for lot in lots:
                lot["estimated_value"] = "1000"  # their sum is the value: within 12 digits
        return case

    return map_case


def _described(exc: BaseException) -> str:
    if isinstance(exc, FailureGroup):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _check(case):
    case.call_and_validate()


def test_api_conforms_to_its_schema(api_schema):
    # schemathesis' own pytest decorator renames pytest's nodes through an attribute pytest 9
    # no longer has: the same per-operation tests are built and run here, every failure kept.
    failures = []
    operations = 0
    for result in get_all_tests(schema=api_schema, test_func=_check, settings=None, given_kwargs=None):
        operation, test = result.ok()
        operations += 1
        try:
            test()
        except (Exception, FailureGroup) as exc:  # noqa: BLE001 — reported below, all of them
            failures.append(f"{operation.label}: {_described(exc)}")
    assert operations >= 18
    assert not failures, "\n\n".join(failures)
