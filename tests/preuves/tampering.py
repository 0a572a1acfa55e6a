"""What an operator holding the database (and, at worst, the platform's keys) can do to the
evidence, step by step, for the tests that show each step is caught."""

from __future__ import annotations

import importlib
import json
from contextlib import contextmanager

from django.db import connection, transaction

from preuves import journal, keys, log, merkle, timestamps
from preuves.models import Checkpoint, JournalEntry, JournalHead, LogHead, LogLeaf

_modules = [
    importlib.import_module(f"preuves.migrations.{name}")
    for name in ("0002_journal_append_only", "0004_proofs_append_only", "0006_append_only_strict")
]
GUARDED = sorted({"preuves_journalentry", *_modules[1].TABLES, *_modules[2].TABLES})


@contextmanager
def guards_lifted():
    """ALTER TABLE … DISABLE TRIGGER USER as the tables' owner (PostgreSQL), or the triggers
    dropped and put back (SQLite): what the attack of the hardening issue did."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            for table in GUARDED:
                cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        else:
            for module in _modules:
                for statement in module.SQLITE_BACKWARD:
                    cursor.execute(statement)
        try:
            yield cursor
        finally:
            if connection.vendor == "postgresql":
                # Deferred foreign-key checks would block the ALTER TABLE inside the test's transaction.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                for table in GUARDED:
                    cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
            else:
                for module in _modules:
                    for statement in module.SQLITE_FORWARD:
                        cursor.execute(statement)


def rewrite_entry(seq: int, payload: dict) -> None:
    """Edit one journal entry, recompute every later hash and the head."""
    with guards_lifted(), transaction.atomic():
        prev_hash = journal.GENESIS_HASH
        for entry in JournalEntry.objects.order_by("seq"):
            if entry.seq == seq:
                entry.payload = payload
            entry.prev_hash = prev_hash
            entry.hash = journal._hash_of(entry)
            JournalEntry.objects.filter(seq=entry.seq).update(
                payload=entry.payload, prev_hash=entry.prev_hash, hash=entry.hash
            )
            prev_hash = entry.hash
        JournalHead.objects.filter(pk=1).update(hash=prev_hash)


def rewrite_anchors() -> None:
    """Point every anchor leaf at the (rewritten) journal's hashes, with new tokens over them
    (the embedded TSA's key at hand): leaf data only, its stored hash left as it was."""
    for leaf in LogLeaf.objects.filter(kind="journal.head"):
        data = json.loads(bytes(leaf.data))
        data["hash"] = JournalEntry.objects.get(seq=data["seq"]).hash
        token = timestamps.timestamp_digest(bytes.fromhex(data["hash"]), purpose="journal.anchor")
        data.update(log.leaf_digest_fields(token))
        with guards_lifted(), transaction.atomic():
            LogLeaf.objects.filter(pk=leaf.pk).update(data=log.canonical(data))


def rehash_leaves() -> None:
    with guards_lifted(), transaction.atomic():
        for leaf in LogLeaf.objects.all():
            LogLeaf.objects.filter(pk=leaf.pk).update(leaf_hash=merkle.leaf_hash(bytes(leaf.data)))


def rebuild_tree() -> merkle.MemoryTree:
    """Every stored subtree and the head recomputed from the (rewritten) leaves."""
    tree = merkle.MemoryTree()
    for leaf in LogLeaf.objects.order_by("index"):
        tree.append(bytes(leaf.data))
    with guards_lifted() as cursor, transaction.atomic():
        cursor.execute("DELETE FROM preuves_lognode")
        for node_key, digest in tree.nodes.items():
            cursor.execute("INSERT INTO preuves_lognode (key, hash) VALUES (%s, %s)", [node_key, digest])
        LogHead.objects.filter(pk=1).update(size=tree.size, root_hash=tree.root)
    return tree


def resign_checkpoints(tree: merkle.MemoryTree, *, retimestamp: bool) -> None:
    """Re-sign every checkpoint with the log's key for the rebuilt tree; with `retimestamp`,
    get new tokens too (possible for whoever holds the embedded TSA's key)."""
    for point in Checkpoint.objects.all():
        root = merkle.root(point.size, tree.source)
        note = log.sign_head(point.size, root)
        token = timestamps.timestamp_data(note.encode(), purpose="log.checkpoint") if retimestamp else None
        with guards_lifted(), transaction.atomic():
            changes = {"note": note, "root_hash": root}
            if token is not None:
                changes["timestamp"] = token
            Checkpoint.objects.filter(pk=point.pk).update(**changes)
    keys.material()  # the same keys, unchanged: the operator needed them all
