"""A receipt checked against the log as it is today (`verifier.py --current/--log`), and
witnesses' cosignatures required by the reader (`--witness`, `--witnesses`)."""

import json
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.db import transaction

from preuves import keys, log, verifier, witness
from preuves.models import Checkpoint
from tests.servers import ROOT

from .tampering import guards_lifted, rebuild_tree, resign_checkpoints


def _grow(n: int, tag: str) -> Checkpoint:
    for i in range(n):
        with transaction.atomic():
            log.append("test", {"n": i, "tag": tag})
    return log.checkpoint()


@pytest.fixture
def receipt(db):
    _grow(3, "a")
    return log.bundle(1)


def _check(report, name):
    return next(check for check in report.checks if check.name == name)


def _key():
    return keys.material().log_key.public_key()


def test_a_log_that_grew_extends_the_receipt(receipt):
    point = _grow(4, "b")
    report = verifier.verify_against_log(
        receipt,
        log.checkpoint_json(point),
        log.consistency(3, 7),
        log_key=_key(),
        tsa_ca=[keys.material().ca_cert],
    )
    assert report.ok, report.checks
    assert "prolonge celui du reçu (3)" in _check(report, "Cohérence avec le journal actuel").message
    assert report.facts["current_size"] == 7


def test_the_same_log_and_a_truncated_or_forked_one(receipt):
    same = verifier.verify_against_log(receipt, receipt["checkpoint"], None, log_key=_key())
    assert _check(same, "Cohérence avec le journal actuel").ok
    # A checkpoint of a smaller tree, signed with the log's key: the log was cut.
    small = dict(receipt["checkpoint"], size=2, root_hash=log.merkle.root(2, log.db_nodes).hex())
    small["note"] = log.sign_head(2, bytes.fromhex(small["root_hash"]))
    cut = verifier.verify_against_log(receipt, small, None, log_key=_key())
    check = _check(cut, "Cohérence avec le journal actuel")
    assert not check.ok
    assert "fourche" in check.message
    assert "journal tronqué" in check.message
    # The history rewritten and rebuilt with every key: the receipt's root is not a prefix.
    with guards_lifted(), transaction.atomic():
        log.LogLeaf.objects.filter(index=0).update(data=log.canonical({"type": "test", "n": 666}))
    tree = rebuild_tree()
    resign_checkpoints(tree, retimestamp=True)
    point = _grow(1, "c")
    forked = verifier.verify_against_log(
        receipt, log.checkpoint_json(point), log.consistency(3, 4), log_key=_key()
    )
    check = _check(forked, "Cohérence avec le journal actuel")
    assert not check.ok
    assert "ne prolonge pas le point de contrôle du reçu (3 feuilles" in check.message


def test_cosignatures_required_by_the_reader(receipt, settings):
    settings.PREUVES_WITNESSED_LOGS = [verifier.log_vkey(settings.PREUVES_LOG_ORIGIN, _key())]
    settings.PREUVES_WITNESSES = [witness.own_witness().vkey]
    point = Checkpoint.objects.get(size=3)
    stranger = verifier.Witness("inconnu.example.fr", Ed25519PrivateKey.generate().public_key())
    current = log.checkpoint_json(point)
    missing = verifier.verify_against_log(
        receipt, current, None, log_key=_key(), witnesses=[witness.own_witness()]
    )
    assert not _check(missing, "Contresignatures des témoins").ok
    line = witness.add_checkpoint(f"old 0\n\n{point.note}".encode())
    witness.accept_cosignatures(3, line)
    current = log.checkpoint_json(point)
    one = verifier.verify_against_log(
        receipt, current, None, log_key=_key(), witnesses=[witness.own_witness()]
    )
    assert _check(one, "Contresignatures des témoins").ok
    two = verifier.verify_against_log(
        receipt, current, None, log_key=_key(), witnesses=[witness.own_witness(), stranger], required=2
    )
    check = _check(two, "Contresignatures des témoins")
    assert not check.ok
    assert "2 contresignatures" in check.message
    # A cosignature moved onto another checkpoint does not verify there.
    other = dict(current, cosignatures=current["cosignatures"])
    _grow(1, "d")
    moved = log.checkpoint_json(Checkpoint.objects.order_by("-size").first())
    moved["cosignatures"] = other["cosignatures"]
    report = verifier.verify_against_log(
        receipt, moved, None, log_key=_key(), witnesses=[witness.own_witness()]
    )
    assert not _check(report, "Contresignatures des témoins").ok


def test_the_command_line(receipt, tmp_path):
    bundle = tmp_path / "preuve.json"
    bundle.write_text(json.dumps(receipt))
    current = tmp_path / "actuel.json"
    current.write_text(json.dumps(receipt["checkpoint"]))
    proof = tmp_path / "coherence.json"
    proof.write_text("{}")
    base = [sys.executable, "preuves/verifier.py", str(bundle)]

    def run(*args):
        return subprocess.run([*base, *args], cwd=ROOT, capture_output=True, text=True, check=False)

    ok = run("--current", str(current), str(proof))
    assert ok.returncode == 3, ok.stdout + ok.stderr
    assert "OK     Cohérence avec le journal actuel" in ok.stdout
    vkey = witness.own_witness().vkey
    assert run("--witness", vkey, "--witnesses", "2").returncode == 2
    assert "seulement 1 témoin" in run("--witness", vkey, "--witnesses", "2").stderr
    assert run("--witness", "pas+une+clé").returncode == 2
    assert run("--log", "ftp://ailleurs").returncode == 2
    refused = run("--witness", vkey)
    assert refused.returncode == 1
    assert "ÉCHEC  Contresignatures des témoins" in refused.stdout


def test_verifier_keys_are_checked(db, settings):
    own = witness.own_witness()
    assert verifier.parse_witness_key(own.vkey).key_id == own.key_id
    log_key = verifier.log_vkey(settings.PREUVES_LOG_ORIGIN, _key())
    assert verifier.parse_log_vkey(log_key)[0] == settings.PREUVES_LOG_ORIGIN
    name, key_hex, material = own.vkey.split("+", 2)
    for text, message in [
        (log_key, "de type 0x04"),  # a log's key is not a cosigner's
        (f"{name}+00000000+{material}", "n'a pas l'identifiant 00000000"),
        (f"{name}+{key_hex}", "mal formée"),
        (f"{name}+{key_hex}+pas du base64", "base64"),
    ]:
        with pytest.raises(verifier.VerificationError, match=message):
            verifier.parse_witness_key(text)
    with pytest.raises(verifier.VerificationError, match="de type 0x01"):
        verifier.parse_log_vkey(own.vkey)
