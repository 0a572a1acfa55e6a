"""Every append-only table refuses the ways round its UPDATE and DELETE triggers: SQLite's
INSERT OR REPLACE, REPLACE and UPSERT (which delete or update the old row without firing the
DELETE trigger), PostgreSQL's ON CONFLICT DO UPDATE; and the heads move only forward."""

import importlib

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from preuves import anchoring, journal, log
from preuves.models import Checkpoint, Cosignature, JournalEntry, JournalHead, LogHead, WitnessedLog

strict = importlib.import_module("preuves.migrations.0006_append_only_strict")
PRIMARY_KEY = {"preuves_lognode": "key"}


@pytest.fixture
def evidence(db):
    """One row at least in every guarded table."""
    for i in range(3):
        journal.record("test.append_only", payload={"i": i})
    anchoring.anchor_journal()
    log.append("test", {"n": 1})
    point = log.checkpoint()
    Cosignature.objects.create(
        checkpoint=point,
        witness="temoin.exemple.fr",
        key_id="00000000",
        signed_at=timezone.now(),
        line="— temoin.exemple.fr AAAA",
        received_at=timezone.now(),
    )
    WitnessedLog.objects.create(
        origin="autre.exemple.fr/preuves/log",
        log_key="k",
        size=3,
        root_hash=b"\1" * 32,
        note="n",
        updated_at=timezone.now(),
    )


def _count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table}")
        return cursor.fetchone()[0]


def _refused(sql: str) -> None:
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)


def _dump(table: str) -> list:
    key = PRIMARY_KEY.get(table, "id")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table} ORDER BY {key}")
        return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in cursor.fetchall()]


@pytest.mark.parametrize("table", strict.TABLES)
def test_no_replace_nor_upsert(evidence, table):
    before = _dump(table)
    assert before, f"{table} should hold a row for this test"
    key = PRIMARY_KEY.get(table, "id")
    first = f"(SELECT MIN({key}) FROM {table})"
    if connection.vendor == "sqlite":
        _refused(f"INSERT OR REPLACE INTO {table} SELECT * FROM {table} WHERE {key} = {first}")
        _refused(f"REPLACE INTO {table} SELECT * FROM {table} WHERE {key} = {first}")
        _refused(
            f"INSERT INTO {table} SELECT * FROM {table} WHERE {key} = {first} "
            f"ON CONFLICT DO UPDATE SET {key} = excluded.{key}"
        )
    else:
        column = (
            "seq"
            if table == "preuves_journalhead"
            else "size"
            if "head" in table or "witnessed" in table
            else key
        )
        value = "0" if column in {"seq", "size"} else f"excluded.{key}"
        _refused(
            f"INSERT INTO {table} SELECT * FROM {table} WHERE {key} = {first} "
            f"ON CONFLICT ({key}) DO UPDATE SET {column} = {value}"
        )
    _refused(f"DELETE FROM {table}")
    assert _dump(table) == before


def test_the_journal_head_moves_only_forward(evidence):
    head = JournalHead.objects.get()
    entry = JournalEntry.objects.get(seq=2)
    for changes in ({"seq": head.seq - 1}, {"seq": entry.seq, "hash": "f" * 64}, {"hash": entry.hash}):
        with pytest.raises(DatabaseError), transaction.atomic():
            JournalHead.objects.filter(pk=1).update(**changes)
    # Back to an earlier entry, with its true hash: a rollback, refused too.
    with pytest.raises(DatabaseError), transaction.atomic():
        JournalHead.objects.filter(pk=1).update(seq=entry.seq, hash=entry.hash)
    assert JournalHead.objects.get().hash == head.hash
    journal.record("test.append_only.after")  # the platform's own forward step still works
    assert JournalHead.objects.get().seq == head.seq + 1


def test_the_log_head_moves_only_forward(evidence):
    head = LogHead.objects.get()
    for changes in ({"size": head.size - 1}, {"size": head.size + 5}, {"root_hash": b"\0" * 32}):
        with pytest.raises(DatabaseError), transaction.atomic():
            LogHead.objects.filter(pk=1).update(**changes)
    assert LogHead.objects.get().size == head.size
    log.append("test", {"n": 2})
    assert LogHead.objects.get().size == head.size + 1


def test_a_witness_record_never_rolls_back(evidence):
    for changes in ({"size": 2}, {"root_hash": b"\2" * 32}, {"origin": "ailleurs"}):
        with pytest.raises(DatabaseError), transaction.atomic():
            WitnessedLog.objects.filter(size=3).update(**changes)
    WitnessedLog.objects.filter(size=3).update(size=4, root_hash=b"\2" * 32)
    assert Checkpoint.objects.exists()
