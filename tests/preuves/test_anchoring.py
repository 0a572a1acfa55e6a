"""Journal anchoring: rewriting the journal, even with every hash recomputed, contradicts the
head published in the transparency log."""

import base64
import json
import shutil
import subprocess

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction

from preuves import anchoring, audit, journal, keys, log, verifier
from preuves.models import JournalHead, LogLeaf

from .tampering import rewrite_entry


def test_anchor_records_the_head_with_a_token_over_it(db, tmp_path):
    for i in range(3):
        journal.record("test.anchor", payload={"i": i})
    leaf = anchoring.anchor_journal()
    head = JournalHead.objects.get()
    data = json.loads(bytes(leaf.data))
    assert data == {
        "type": "journal.head",
        "seq": 3,
        "hash": head.hash,
        "digest": head.hash,
        "timestamp_sha256": data["timestamp_sha256"],
    }
    report = verifier.verify_bundle(
        log.bundle(leaf.index), log_key=keys.material().log_key.public_key(), tsa_ca=[keys.material().ca_cert]
    )
    assert report.ok, report.checks
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs Debian's package openssl")
    bundle = log.bundle(leaf.index)

    (tmp_path / "t.tsr").write_bytes(base64.b64decode(bundle["timestamp"]["tsr"]))
    (tmp_path / "ca.pem").write_text(keys.material().ca_pem)
    result = subprocess.run(
        [openssl, "ts", "-verify", "-digest", head.hash, "-in", "t.tsr", "-CAfile", "ca.pem"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_nothing_to_anchor(db):
    assert anchoring.anchor_journal() is None  # empty journal
    journal.record("test.anchor")
    assert anchoring.anchor_journal() is not None
    assert anchoring.anchor_journal() is None  # head unchanged
    journal.record("test.anchor")
    assert anchoring.anchor_journal().index == 1
    assert LogLeaf.objects.filter(kind="journal.head").count() == 2


def test_a_rewritten_journal_contradicts_its_anchor(db):
    for i in range(4):
        journal.record("test.anchor", payload={"montant": i})
    anchoring.anchor_journal()
    assert audit.verify_all().ok
    rewrite_entry(2, {"montant": 1000})
    assert journal.verify().ok  # the chain alone cannot tell
    check = audit.verify_all()
    assert not check.ok
    problems = " ".join(check.problems)
    assert "l'entrée n° 4 du journal a le hash" in problems
    assert "journal réécrit" in problems
    with pytest.raises(CommandError, match="Journal réécrit"):
        call_command("journal", "verify")


def test_journal_verify_reports_anchors(db, capsys):
    journal.record("test.anchor")
    anchoring.anchor_journal()
    call_command("journal", "verify")
    assert "1 ancrages concordants" in capsys.readouterr().out


def test_a_malformed_last_anchor_does_not_stop_anchoring(db):
    """A crafted anchor leaf (the runtime role can insert) is named by the full
    verification; anchoring goes on rather than crash."""
    journal.record("test.anchor")
    with transaction.atomic():
        log.append("journal.head", {"seq": ["pas", "un", "nombre"]})
    leaf = anchoring.anchor_journal()
    assert leaf is not None
    assert "ancrage" in " ".join(audit.verify_all().problems)
