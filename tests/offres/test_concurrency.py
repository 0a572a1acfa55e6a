"""The last minutes before a deadline on PostgreSQL: finalisations and new deposits of one
consultation at the same moment, each in its own request and transaction. None may fail:
the locks of finalisation (the consultation, FOR NO KEY UPDATE) and of a deposit being
opened (KEY SHARE on the consultation for its foreign key, then the journal's head) once
formed a cycle that PostgreSQL broke by failing one of them (docs/performance.md)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from comptes.services import api_token_create
from offres.models import Deposit
from tests.factories import MembershipFactory

from . import builders
from .test_deposit_api import call, post_json

PAIRS = 12


@pytest.fixture
def postgresql(transactional_db):
    if connection.vendor != "postgresql":
        pytest.skip("row-level locks: needs PostgreSQL (DATABASE_URL=postgres://…), as in CI")


def test_finalisations_and_openings_at_the_same_moment_all_succeed(postgresql, live_server, published):
    consultation, _ = published
    api = live_server.url + "/api/v1/depots"
    finalising, opening = [], []
    for n in range(PAIRS):
        membership = MembershipFactory(company_admin=True)
        _, token = api_token_create(user=membership.user, name="ruée")
        ciphertext = builders.encrypt_to(consultation, "offer", b"offre %d" % n)
        deposit = builders.uploaded(consultation, membership.user, [("offer", "offre.age", ciphertext)])
        finalising.append((token, f"{api}/{deposit.public_id}/valider"))
        other = MembershipFactory(company_admin=True)
        opening.append(api_token_create(user=other.user, name="ruée")[1])

    start = threading.Barrier(2 * PAIRS)
    answers: list[tuple[str, int, dict]] = []

    def finalise(token, url):
        start.wait()
        status, body = call(url, token, "POST", b"{}")
        answers.append(("valider", status, body))

    def open_one(token):
        start.wait()
        status, body = post_json(f"{api}/", token, {"consultation": consultation.pk})
        answers.append(("ouvrir", status, body))

    threads = [threading.Thread(target=finalise, args=pair) for pair in finalising]
    threads += [threading.Thread(target=open_one, args=(token,)) for token in opening]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    failures = [(kind, status, body) for kind, status, body in answers if status not in (200, 201)]
    assert failures == []
    assert len(answers) == 2 * PAIRS
    received = Deposit.objects.filter(state=Deposit.State.RECEIVED)
    assert received.count() == PAIRS
    assert len(set(received.values_list("log_index", flat=True))) == PAIRS
    assert Deposit.objects.filter(state=Deposit.State.UPLOADING).count() == PAIRS
