"""The last minutes before a deadline on PostgreSQL: finalisations and new deposits of one
consultation at the same moment, each in its own request and transaction. None may fail:
the locks of finalisation (the consultation, FOR NO KEY UPDATE) and of a deposit being
opened (KEY SHARE on the consultation for its foreign key, then the journal's head) once
formed a cycle that PostgreSQL broke by failing one of them (docs/performance.md)."""

from __future__ import annotations

import io
import threading
import time

import pytest
from django.db import connection, transaction

from comptes.services import api_token_create
from config.errors import ApplicationError
from offres import deposits
from offres.models import Deposit, DepositChunk, DepositFile
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


def test_parallel_requests_of_one_company_do_not_each_pass_the_bounds(postgresql, live_server, published):
    """The bounds on a company's deposits in progress are checked under a lock on its row:
    eight openings at once give three deposits, and announcements at once stay within twice
    the consultation's maximum size."""
    consultation, _ = published
    api = live_server.url + "/api/v1/depots"
    membership = MembershipFactory(company_admin=True)
    _, token = api_token_create(user=membership.user, name="ruée")

    def together(count, request):
        start = threading.Barrier(count)
        answers = []

        def run(n):
            start.wait()
            answers.append(request(n))

        threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        return answers

    opened = together(8, lambda n: post_json(f"{api}/", token, {"consultation": consultation.pk}))
    assert sorted(status for status, _ in opened) == [201] * 3 + [429] * 5
    ids = [body["id"] for status, body in opened if status == 201]
    size = consultation.max_deposit_bytes // 2
    announced = together(
        6,
        lambda n: post_json(
            f"{api}/{ids[n % 3]}/fichiers/", token, {"envelope": "offer", "name": f"f{n}.age", "size": size}
        ),
    )
    assert sorted(status for status, _ in announced) == [201] * 4 + [413] * 2
    assert {body["error"]["code"] for status, body in announced if status == 413} == {"unfinished_too_large"}


def _waiting_for_a_lock(count: int) -> None:
    """Until `count` other sessions of this database wait for a lock (polling, no timing)."""
    for _ in range(2000):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()"
            )
            if cursor.fetchone()[0] >= count:
                return
        time.sleep(0.01)
    raise AssertionError(f"{count} sessions never waited for a lock")


def test_a_chunk_waiting_while_its_deposit_is_abandoned_is_refused(postgresql, published, tmp_path):
    """A chunk that waited for its file's lock while the deposit was abandoned: its first
    statement's snapshot still shows the deposit in progress; the chunk must be refused all
    the same, and nothing of it stored."""
    consultation, _ = published
    user = MembershipFactory(company_admin=True).user
    ciphertext = builders.encrypt_to(consultation, "offer", b"offre " * 500)
    deposit = builders.uploaded(consultation, user, [])
    file = deposits.file_add(deposit=deposit, user=user, envelope="offer", name="o.age", size=len(ciphertext))
    deposits.chunk_receive(file=file, user=user, offset=0, stream=io.BytesIO(ciphertext[:500]), length=500)
    held, release = threading.Event(), threading.Event()
    outcome = {}

    def hold_the_file():  # a chunk of the same file being stored
        try:
            with transaction.atomic():
                DepositFile.objects.select_for_update(no_key=True).get(pk=file.pk)
                held.set()
                release.wait(timeout=60)
        finally:
            connection.close()

    def abandon():
        try:
            outcome["abandon"] = deposits.deposit_abandon(deposit=deposit, user=user).state
        finally:
            connection.close()

    def next_chunk():
        rest = ciphertext[500:]
        try:
            deposits.chunk_receive(
                file=file, user=user, offset=500, stream=io.BytesIO(rest), length=len(rest)
            )
            outcome["chunk"] = "stored"
        except ApplicationError as exc:
            outcome["chunk"] = exc.code
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_file)
    holder.start()
    assert held.wait(timeout=60)
    abandoning = threading.Thread(target=abandon)
    abandoning.start()
    _waiting_for_a_lock(1)
    sending = threading.Thread(target=next_chunk)
    sending.start()
    _waiting_for_a_lock(2)
    release.set()
    for thread in (holder, abandoning, sending):
        thread.join(timeout=120)
    assert outcome == {"abandon": Deposit.State.ABANDONED, "chunk": "abandoned"}
    assert not DepositChunk.objects.filter(file=file).exists()
    assert DepositFile.objects.get(pk=file.pk).received == 500
    assert not list((tmp_path / "media").rglob("*.part"))
