"""Witnesses, with two instances: a platform in its own process, on its own database and
keys, and this test's instance as its witness. The witness cosigns what extends what it
saw; once the platform's operator rewrites its history — holding every key, the embedded
TSA's included, so that `preuves verify` on the platform passes — the witness refuses,
saying where the logs diverge, and a receipt's holder sees the fork with `verifier.py --log`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from preuves import log, verifier, witness
from preuves.models import JournalEntry, WitnessedLog
from tests.servers import ROOT, running_server

ORIGIN = "plateforme-a.test/preuves/log"


def _shell(env: dict[str, str], code: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-v", "0", "-c", textwrap.dedent(code)],
        cwd=ROOT, env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", **env},
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout


APPEND = """
from django.db import transaction
from preuves import log
for i in range({n}):
    with transaction.atomic():
        log.append("test", {{"n": i, "lot": "{tag}"}})
log.checkpoint()
"""

REWRITE = """
import json
from django.db import transaction
from preuves import audit, log
from preuves.models import LogLeaf
from tests.preuves.tampering import guards_lifted, rebuild_tree, resign_checkpoints
leaf = LogLeaf.objects.get(index=1)
data = json.loads(bytes(leaf.data))
data["n"] = 1000
with guards_lifted(), transaction.atomic():
    body = log.canonical(data)
    LogLeaf.objects.filter(pk=leaf.pk).update(data=body, leaf_hash=log.merkle.leaf_hash(body))
tree = rebuild_tree()
resign_checkpoints(tree, retimestamp=True)
print("COSIGNED", " ".join(audit.verify_all().problems))
with guards_lifted() as cursor:  # the witnesses' cosignatures betray the rewrite: gone too
    cursor.execute("DELETE FROM preuves_cosignature")
report = audit.verify_all()
print("AUDIT", report.ok, report.problems)
"""


@pytest.fixture
def platform(db, tmp_path, settings):
    """The other instance: its database, keys and origin; this instance is its witness."""
    settings.PREUVES_WITNESS_NAME = "temoin-b.test/preuves/temoin"
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'plateforme.sqlite3'}",
        "PREUVES_TEST_KEY_DIR": str(tmp_path / "cles"),
        "PROFIL_TEST_MEDIA_ROOT": str(tmp_path / "media"),
        "PREUVES_LOG_ORIGIN": ORIGIN,
        "PREUVES_WITNESSES": witness.own_witness().vkey,
        "CELERY_BROKER_URL": "",
    }
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT, env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", **env}, check=True,
    )  # fmt: skip
    _shell(env, APPEND.format(n=4, tag="a"))
    with running_server(env, tmp_path / "plateforme.log", ready_path="/preuves/log/key.pem") as url:
        key_file = tmp_path / "cle-journal.pem"
        _fetch_to(f"{url}/preuves/log/key.pem", key_file)
        yield url, env, key_file


def _fetch_to(url: str, path) -> None:
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as response:
        path.write_bytes(response.read())


def _checkpoint(url: str) -> dict:
    import urllib.request

    with urllib.request.urlopen(f"{url}/preuves/log/checkpoint", timeout=10) as response:
        return json.loads(response.read())


def test_the_witness_cosigns_then_refuses_a_rewritten_history(platform, tmp_path, capsys):
    url, env, key_file = platform
    own = witness.own_witness()

    # First sight: the key is pinned, the whole tree checked, the cosignature handed back.
    call_command("preuves", "witness", url, "--log-key", str(key_file))
    state = WitnessedLog.objects.get(origin=ORIGIN)
    assert state.size == 4
    assert len(state.frontier) == 1  # one complete subtree of 4 leaves
    published = _checkpoint(url)
    point = verifier.parse_checkpoint(published)
    assert verifier.verify_cosignatures(point, [own], 1) == [own.name]
    assert JournalEntry.objects.filter(action="witness.cosigned").count() == 1

    # A receipt of leaf 1, taken now; the log grows; the witness follows with a consistency proof.
    bundle = tmp_path / "preuve.json"
    bundle.write_text(_shell(env, "import json; from preuves import log; print(json.dumps(log.bundle(1)))"))
    _shell(env, APPEND.format(n=2, tag="b"))
    call_command("preuves", "witness", url)
    state.refresh_from_db()
    assert state.size == 6
    vkey = own.vkey
    verify = [sys.executable, "preuves/verifier.py", str(bundle), "--log-key", str(key_file), "--log", url]
    ok = subprocess.run([*verify, "--witness", vkey], cwd=ROOT, capture_output=True, text=True, check=False)
    assert ok.returncode == 3, ok.stdout  # valid, the TSA CA taken from the bundle
    assert "OK     Cohérence avec le journal actuel" in ok.stdout
    assert (
        "OK     Contresignatures des témoins : contresigné par « temoin-b.test/preuves/temoin »" in ok.stdout
    )

    # The operator rewrites leaf 1 and rebuilds everything with its own keys: its own full
    # verification passes, nothing inside that platform can tell.
    out = _shell(env, REWRITE)
    assert "contresignature de « temoin-b.test/preuves/temoin » invalide" in out
    assert "AUDIT True []" in out
    _shell(env, APPEND.format(n=1, tag="c"))

    with pytest.raises(CommandError) as refused:
        call_command("preuves", "witness", url)
    message = str(refused.value)
    assert "fourche" in message
    assert "ne prolonge pas celui de 6 feuilles" in message
    assert "pour la taille 6, le journal publie désormais la racine" in message
    assert "les feuilles n° 0 à 3 ont été réécrites depuis la contresignature" in message
    state.refresh_from_db()
    assert state.size == 6  # nothing cosigned, nothing moved
    published = verifier.parse_checkpoint(_checkpoint(url))
    assert published.size == 7
    with pytest.raises(verifier.VerificationError, match="contresignature"):
        verifier.verify_cosignatures(published, [own], 1)

    # The receipt's holder sees the fork too, with the platform's own published keys.
    forked = subprocess.run(verify, cwd=ROOT, capture_output=True, text=True, check=False)
    assert forked.returncode == 1, forked.stdout
    assert "ÉCHEC  Cohérence avec le journal actuel : fourche" in forked.stdout
    capsys.readouterr()


def test_add_checkpoint_speaks_c2sp_tlog_witness(db, client, settings):
    """The HTTP side of the witness: status codes and bodies of C2SP tlog-witness."""
    from preuves import keys

    settings.PREUVES_WITNESSED_LOGS = [
        verifier.log_vkey(settings.PREUVES_LOG_ORIGIN, keys.material().log_key.public_key())
    ]
    for i in range(3):
        log.append("test", {"n": i})
    point = log.checkpoint()

    def post(body: str):
        return client.post("/preuves/temoin/add-checkpoint", body, content_type="text/plain")

    first = post(f"old 0\n\n{point.note}")
    assert first.status_code == 200
    assert first.content.decode().startswith(f"{verifier.EM_DASH} {settings.PREUVES_WITNESS_NAME} ")
    stale = post(f"old 0\n\n{point.note}")
    assert (stale.status_code, stale["Content-Type"], stale.content) == (409, witness.SIZE_TYPE, b"3\n")
    log.append("test", {"n": 3})
    newer = log.checkpoint()
    bad_proof = post(f"old 3\n{'A' * 43}=\n\n{newer.note}")
    assert bad_proof.status_code == 422
    assert "fourche" in bad_proof.content.decode()
    proof = "".join(
        __import__("base64").b64encode(bytes.fromhex(h)).decode() + "\n"
        for h in log.consistency(3, 4)["proof"]
    )
    assert post(f"old 3\n{proof}\n{newer.note}").status_code == 200
    assert post(f"old 9\n\n{newer.note}").status_code == 400  # old size above the checkpoint's
    forged = newer.note.replace(newer.note.split("\n")[2], "A" * 43 + "=")
    assert post(f"old 4\n\n{forged}").status_code == 403
    other = newer.note.replace(settings.PREUVES_LOG_ORIGIN, "ailleurs.test/log")
    assert post(f"old 0\n\n{other}").status_code == 404
    assert post("n'importe quoi").status_code == 400
    assert client.get("/preuves/temoin/add-checkpoint").status_code == 405


def test_the_log_takes_only_configured_witnesses(db, client, settings):
    from preuves import keys

    for i in range(2):
        log.append("test", {"n": i})
    point = log.checkpoint()
    settings.PREUVES_WITNESSED_LOGS = [
        verifier.log_vkey(settings.PREUVES_LOG_ORIGIN, keys.material().log_key.public_key())
    ]
    line = witness.add_checkpoint(f"old 0\n\n{point.note}".encode())
    answer = client.post(f"/preuves/log/cosignatures?size={point.size}", line, content_type="text/plain")
    assert answer.status_code == 403  # this instance's witness is not in PREUVES_WITNESSES
    settings.PREUVES_WITNESSES = [witness.own_witness().vkey]
    tampered = line[:-6] + ("A" if line[-6] != "A" else "B") + line[-5:]
    assert (
        client.post(
            f"/preuves/log/cosignatures?size={point.size}", tampered, content_type="text/plain"
        ).status_code
        == 400
    )
    answer = client.post(f"/preuves/log/cosignatures?size={point.size}", line, content_type="text/plain")
    assert answer.status_code == 201
    assert (
        client.post("/preuves/log/cosignatures?size=99", line, content_type="text/plain").status_code == 404
    )
    published = client.get("/preuves/log/checkpoint").json()
    assert published["cosignatures"] == [line.strip()]
    assert verifier.verify_cosignatures(verifier.parse_checkpoint(published), [witness.own_witness()], 1)
