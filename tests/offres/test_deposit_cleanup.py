"""The clean-up: uploads never finalised are abandoned DEPOSITS_ABANDONED_AFTER_DAYS after the
deadline, by a periodic task declared in config/celery.py; their stored chunks are deleted,
one journal entry each. Received deposits are never touched."""

import io
from datetime import timedelta

import pytest
from django.utils import timezone

from config.celery import app
from marches.models import Consultation
from offres import deposits, simulation, tasks
from offres.models import Deposit, DepositChunk, DepositFile
from preuves.models import JournalEntry

from . import builders

pytestmark = pytest.mark.django_db


def stored(tmp_path) -> list:
    media = tmp_path / "media"
    return sorted(p.relative_to(media).as_posix() for p in media.rglob("*.part")) if media.exists() else []


def _age(consultation, days: float) -> None:
    """As if the deadline, and every deposit's start, were `days` ago."""
    then = timezone.now() - timedelta(days=days)
    Consultation.objects.filter(pk=consultation.pk).update(deadline=then)
    Deposit.objects.filter(consultation=consultation).update(started_at=then - timedelta(hours=1))


@pytest.fixture
def world(published, received, bidder_membership):
    """On one consultation: a received deposit, and one of the same company in progress with a
    whole file and a half-sent one."""
    consultation, _ = published
    user = bidder_membership.user
    whole = builders.encrypt_to(consultation, "offer", b"offre " * 1000)
    pending = builders.uploaded(consultation, user, [("offer", "offre-2.pdf.age", whole)])
    half = deposits.file_add(deposit=pending, user=user, envelope="application", name="dc1.age", size=5000)
    first = builders.encrypt_to(consultation, "application", b"dc1 " * 2000)[:1500]
    deposits.chunk_receive(file=half, user=user, offset=0, stream=io.BytesIO(first), length=1500)
    return consultation, received, pending


def test_uploads_never_finalised_are_abandoned_a_week_after_the_deadline(
    world, tmp_path, django_capture_on_commit_callbacks
):
    consultation, received, pending = world
    chunks = DepositChunk.objects.filter(file__deposit=received)
    received_chunks = list(chunks.values_list("pk", "storage_name"))
    received_files = list(received.files.values_list("pk", "sha256"))
    assert len(stored(tmp_path)) == 3
    _age(consultation, days=8)
    with django_capture_on_commit_callbacks(execute=True):
        assert deposits.abandon_expired() == 1
    pending.refresh_from_db()
    assert pending.state == Deposit.State.ABANDONED
    assert pending.abandoned_at is not None
    assert pending.received_at is None
    assert not DepositChunk.objects.filter(file__deposit=pending).exists()
    # The record of what was announced stays: the files' rows, sizes, bytes received.
    sizes = dict(pending.files.values_list("name", "size"))
    assert sorted(pending.files.values_list("name", "received")) == [
        ("dc1.age", 1500),
        ("offre-2.pdf.age", sizes["offre-2.pdf.age"]),
    ]
    entry = JournalEntry.objects.get(action="deposit.abandoned")
    assert entry.actor_id is None
    assert entry.organisation_id == pending.company_id
    assert entry.target_id == str(pending.pk)
    assert entry.payload == {
        "consultation": consultation.pk,
        "reason": "expired",
        "files": 2,
        "chunks": 2,
        "bytes": sizes["offre-2.pdf.age"] + 1500,
        "announced": sizes["offre-2.pdf.age"] + 5000,
    }
    # The received deposit: its state, rows and stored chunks, untouched.
    received.refresh_from_db()
    assert received.state == Deposit.State.RECEIVED
    assert list(DepositChunk.objects.filter(file__deposit=received).values_list("pk", "storage_name")) == (
        received_chunks
    )
    assert list(received.files.values_list("pk", "sha256")) == received_files
    assert stored(tmp_path) == [name for _, name in received_chunks]
    # Once is enough: a second run finds nothing, journals nothing.
    assert deposits.abandon_expired() == 0
    assert JournalEntry.objects.filter(action="deposit.abandoned").count() == 1


def test_nothing_is_abandoned_before_the_delay(world, tmp_path, settings):
    consultation, _, _ = world
    _age(consultation, days=6)
    assert deposits.abandon_expired() == 0
    settings.DEPOSITS_ABANDONED_AFTER_DAYS = 5
    assert deposits.abandon_expired() == 1


def test_a_late_deposit_begun_after_the_deadline_gets_the_same_delay(world):
    consultation, _, pending = world
    _age(consultation, days=30)
    Deposit.objects.filter(pk=pending.pk).update(started_at=timezone.now() - timedelta(days=2))
    assert deposits.abandon_expired() == 0
    pending.refresh_from_db()
    assert pending.state == Deposit.State.UPLOADING
    assert DepositFile.objects.filter(deposit=pending, received__gt=0).count() == 2


def test_the_periodic_task_is_declared_and_runs_the_clean_up(
    world, tmp_path, django_capture_on_commit_callbacks
):
    schedule = {entry["task"]: entry for entry in app.conf.beat_schedule.values()}
    assert "offres.tasks.deposits_abandon_expired" in schedule
    assert "offres.tasks.deposits_abandon_expired" in app.tasks
    consultation, _, pending = world
    _age(consultation, days=8)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.deposits_abandon_expired.delay().get() == 1
    pending.refresh_from_db()
    assert pending.state == Deposit.State.ABANDONED
    assert len(stored(tmp_path)) == 1  # the received deposit's chunk only


def test_the_test_consultation_never_closes_but_its_unfinished_deposits_go_too(
    company_admin, django_capture_on_commit_callbacks, tmp_path
):
    consultation = simulation.test_consultation()
    ciphertext = builders.encrypt_to(consultation, "offer", b"essai")
    old = builders.uploaded(consultation, company_admin.user, [("offer", "essai.age", ciphertext)])
    recent = builders.uploaded(consultation, company_admin.user, [("offer", "essai.age", ciphertext)])
    Deposit.objects.filter(pk=old.pk).update(started_at=timezone.now() - timedelta(days=8))
    with django_capture_on_commit_callbacks(execute=True):
        assert deposits.abandon_expired() == 1
    assert Deposit.objects.get(pk=old.pk).state == Deposit.State.ABANDONED
    assert Deposit.objects.get(pk=recent.pk).state == Deposit.State.UPLOADING
    assert stored(tmp_path) == [recent.files.get().chunks.get().storage_name]
