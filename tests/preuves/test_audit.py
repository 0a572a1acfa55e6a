"""The full verification (`preuves verify`, `journal verify`) recomputes everything: the
rewrite of the hardening issue is caught at each depth an operator stops at."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction

from preuves import anchoring, audit, journal, log
from preuves.models import Checkpoint, LogLeaf, TimestampToken

from .tampering import (
    guards_lifted,
    rebuild_tree,
    rehash_leaves,
    resign_checkpoints,
    rewrite_anchors,
    rewrite_entry,
)


@pytest.fixture
def history(db):
    for i in range(5):
        journal.record("test.audit", payload={"montant": i})
    anchoring.anchor_journal()
    for i in range(6):
        with transaction.atomic():
            log.append("test", {"n": i})
        if i % 2:
            log.checkpoint()
    journal.record("test.audit", payload={"montant": 99})
    anchoring.anchor_journal()


def _problems() -> str:
    report = audit.verify_all()
    assert not report.ok
    return " | ".join(report.problems)


def test_an_intact_history_verifies(history, capsys):
    report = audit.verify_all()
    assert report.ok, report.problems
    assert (report.leaves, report.anchors, report.entries) == (8, 2, 6)
    assert report.checkpoints == Checkpoint.objects.count() >= 4
    call_command("preuves", "verify")
    out = capsys.readouterr().out
    assert "Journal intègre" in out
    assert "8 feuilles" in out


def test_the_rewrite_is_named_at_every_depth(history):
    # 1. The journal edited and rehashed, its head moved: the anchors contradict it.
    rewrite_entry(2, {"montant": 1000})
    assert journal.verify().ok  # the chain alone cannot tell
    assert "l'entrée n° 6 du journal a le hash" in _problems()
    # 2. The anchor leaves' data rewritten to match: their hashes no longer match their data.
    rewrite_anchors()
    problems = _problems()
    assert "feuille n° 0 : hash enregistré" in problems
    assert "l'entrée n° 6" not in problems
    # 3. The leaf hashes recomputed too: the stored subtrees contradict them.
    rehash_leaves()
    assert "nœud 0@0 (feuilles n° 0 à 0) réécrit" in _problems()
    # 4. The tree and the head rebuilt: every signed checkpoint contradicts the new tree.
    tree = rebuild_tree()
    problems = _problems()
    assert "point de contrôle de taille 1 : racine enregistrée" in problems
    assert "(feuilles ou point de contrôle réécrits)" in problems
    # 5. The checkpoints re-signed with the log's key: their timestamps cover the old notes.
    resign_checkpoints(tree, retimestamp=False)
    assert "jeton d'horodatage refusé" in _problems()
    with pytest.raises(CommandError, match="Journal réécrit"):
        call_command("journal", "verify")
    # 6. Re-timestamped too, by an operator holding the embedded TSA's key: nothing inside the
    # platform can tell any more; only outside copies can (test_witness.py, verifier --log).
    resign_checkpoints(tree, retimestamp=True)
    assert audit.verify_all().ok


def test_removed_leaves_are_named(history):
    last = LogLeaf.objects.order_by("-index").first()
    with guards_lifted() as cursor:
        cursor.execute("DELETE FROM preuves_logleaf WHERE id = %s", [last.pk])
    problems = _problems()
    assert f"le journal ne compte que {last.index} feuilles" in problems
    assert "tête du journal de transparence" in problems


def test_a_gap_is_named(history):
    with guards_lifted() as cursor:
        cursor.execute('DELETE FROM preuves_logleaf WHERE "index" = 3')
    assert "feuille n° 3 absente (la suivante est la n° 4)" in _problems()


def test_an_altered_token_is_named(history):
    token = TimestampToken.objects.order_by("id").first()
    with guards_lifted() as cursor:
        cursor.execute(
            "UPDATE preuves_timestamptoken SET response = %s WHERE id = %s",
            [bytes(token.response)[:-1] + b"\0", token.pk],
        )
    assert f"jeton d'horodatage n° {token.pk} : réponse modifiée" in _problems()


def test_an_extra_node_is_named(history):
    with guards_lifted() as cursor:
        cursor.execute(
            "INSERT INTO preuves_lognode (key, hash) VALUES (%s, %s)", [(999 << 6) | 3, b"\1" * 32]
        )
    assert "nœuds enregistrés" in _problems()
