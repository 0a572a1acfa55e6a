import importlib
import itertools
import json
from contextlib import contextmanager

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from preuves import journal
from preuves.models import JournalEntry, JournalHead
from tests.factories import MembershipFactory

triggers = importlib.import_module("preuves.migrations.0002_journal_append_only")
TABLE = JournalEntry._meta.db_table


@pytest.fixture
def chain(db):
    membership = MembershipFactory()
    return [
        journal.record(
            f"test.action{i}",
            actor=membership.user,
            organisation=membership.organisation,
            target=membership,
            payload={"i": i, "texte": "é"},
        )
        for i in range(1, 6)
    ]


@contextmanager
def triggers_disabled():
    """What someone with direct database access could do: the verifier must still notice."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER USER")
            yield cursor
            cursor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER USER")
        else:
            for statement in triggers.SQLITE_BACKWARD:
                cursor.execute(statement)
            yield cursor
            for statement in triggers.SQLITE_FORWARD:
                cursor.execute(statement)


def test_entries_are_chained(chain):
    assert chain[0].prev_hash == journal.GENESIS_HASH
    for previous, entry in itertools.pairwise(chain):
        assert entry.prev_hash == previous.hash
        assert entry.seq == previous.seq + 1
    assert JournalHead.objects.get().hash == chain[-1].hash
    result = journal.verify()
    assert result.ok
    assert result.count == 5


def test_entry_records_actor_organisation_target_payload(chain):
    entry = JournalEntry.objects.get(seq=1)
    assert entry.actor_label.endswith("@exemple.fr")
    assert entry.organisation_id is not None
    assert entry.target_type == "comptes.membership"
    assert entry.payload == {"i": 1, "texte": "é"}


def test_hash_survives_database_round_trip(chain):
    """The hash is recomputed from what the database gives back, not from memory."""
    for entry in JournalEntry.objects.all():
        assert journal._hash_of(entry) == entry.hash


def test_event_rolls_back_with_the_action(db):
    def action_that_fails():
        with transaction.atomic():
            journal.record("test.doomed")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        action_that_fails()
    assert not JournalEntry.objects.exists()
    assert journal.verify().ok


def test_payload_must_be_json(db):
    with pytest.raises(TypeError):
        journal.record("test.bad", payload={"when": object()})


def test_command_reports_intact_journal(chain, capsys):
    call_command("journal", "verify")
    assert "Journal intègre : 5 entrées" in capsys.readouterr().out


@pytest.mark.parametrize("statement", [f"UPDATE {TABLE} SET action = 'x'", f"DELETE FROM {TABLE}"])
def test_database_refuses_update_and_delete(chain, statement):
    with (
        pytest.raises(DatabaseError, match="ajout seul"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
    assert JournalEntry.objects.count() == 5


def test_orm_refuses_update_and_delete(chain):
    with pytest.raises(DatabaseError), transaction.atomic():
        JournalEntry.objects.filter(seq=2).update(action="autre")
    with pytest.raises(DatabaseError), transaction.atomic():
        JournalEntry.objects.filter(seq=2).delete()


def _verify_fails_at(seq: int) -> str:
    with pytest.raises(CommandError) as excinfo:
        call_command("journal", "verify")
    message = str(excinfo.value)
    assert f"entrée n° {seq}" in message
    result = journal.verify()
    assert not result.ok
    assert result.broken_seq == seq
    return message


def test_verify_catches_edited_payload(chain):
    with triggers_disabled() as cursor:
        cursor.execute(
            f"UPDATE {TABLE} SET payload = %s WHERE seq = 3", [json.dumps({"i": 99, "texte": "é"})]
        )
    assert "modifié" in _verify_fails_at(3)


def test_verify_catches_edited_action_with_recomputed_hash(chain):
    """Rewriting an entry and its own hash still breaks the link from the next entry."""
    entry = JournalEntry.objects.get(seq=2)
    entry.action = "test.falsified"
    forged = journal._hash_of(entry)
    with triggers_disabled() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET action = %s, hash = %s WHERE seq = 2", ["test.falsified", forged])
    assert "hash précédent" in _verify_fails_at(3)


def test_verify_catches_deleted_entry(chain):
    with triggers_disabled() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE seq = 2")
    assert "supprimée" in _verify_fails_at(3)


def test_verify_catches_deleted_last_entry(chain):
    with triggers_disabled() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE seq = 5")
    assert "manquante" in _verify_fails_at(5)


def test_verify_catches_reordered_entries(chain):
    """Entries 2 and 3 swap places: each keeps its content and hash, only the order changes."""
    with triggers_disabled() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET seq = 1000 WHERE seq = 2")
        cursor.execute(f"UPDATE {TABLE} SET seq = 2 WHERE seq = 3")
        cursor.execute(f"UPDATE {TABLE} SET seq = 3 WHERE seq = 1000")
    _verify_fails_at(2)


def test_concurrent_style_appends_keep_contiguous_sequence(db):
    for i in range(50):
        journal.record("test.burst", payload={"i": i})
    assert list(JournalEntry.objects.values_list("seq", flat=True)) == list(range(1, 51))
    assert journal.verify().ok


@pytest.mark.django_db(transaction=True)
def test_parallel_writers_never_fork_the_chain():
    """Writers in separate connections append at the same time; the head lock queues them."""
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL (set DATABASE_URL, Debian package postgresql)")
    import threading

    from django.db import connections

    errors = []

    def writer(n: int) -> None:
        try:
            for i in range(20):
                with transaction.atomic():
                    journal.record("test.parallel", payload={"writer": n, "i": i})
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert list(JournalEntry.objects.values_list("seq", flat=True)) == list(range(1, 81))
    assert journal.verify().ok
