"""Parallel deposits on the embedded default, SQLite: one company's big upload, sent in
chunks, while other companies open small deposits, send them and finalise them, all at once
over HTTP against a server process. None may fail with « database is locked » (a 500), and
the transparency log stays contiguous: `preuves verify` passes afterwards.

The server runs on a SQLite file of its own, whatever database the suite uses, so that this
runs in CI (on PostgreSQL) too; the same rush on PostgreSQL is tests/offres/test_concurrency.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pyrage

from tests.servers import ROOT, running_server

from .test_deposit_api import call, post_json, put_chunk

SMALL = 6  # companies making a small deposit while the big upload runs
BIG = 4 * 1024 * 1024  # bytes of the big upload
BIG_CHUNK = 128 * 1024

SETUP = """
import json
from comptes.services import api_token_create
from marches import services
from tests.factories import MembershipFactory
from tests.marches.test_services import publishable

agent = MembershipFactory(buyer_agent=True, user__totp=True)
consultation, _ = publishable(agent, reference="2026-SQLITE-1")
consultation = services.consultation_publish(consultation=consultation, published_by=agent.user)
tokens = [
    api_token_create(user=MembershipFactory(company_admin=True).user, name="ruee")[1]
    for _ in range({companies})
]
recipient = consultation.opening_keys.get(envelope="offer").recipient
print(json.dumps({{"consultation": consultation.pk, "recipient": recipient, "tokens": tokens}}))
"""


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT, env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", **env},
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


def _deposit(api: str, token: str, consultation: int, ciphertext: bytes, chunk: int, start) -> list:
    """Open, announce, send in chunks, finalise; every answer that is not a success."""
    failures = []
    start.wait()
    status, deposit = post_json(f"{api}/", token, {"consultation": consultation})
    if status != 201:
        return [("ouvrir", status, deposit)]
    base = f"{api}/{deposit['id']}"
    status, file = post_json(
        f"{base}/fichiers/", token, {"envelope": "offer", "name": "offre.age", "size": len(ciphertext)}
    )
    if status != 201:
        return [("annoncer", status, file)]
    offset = 0
    while offset < len(ciphertext):
        status, state = put_chunk(token, base, file["id"], offset, ciphertext[offset : offset + chunk])
        if status != 200:
            return [("morceau", status, state)]
        offset = state["received"]
    status, receipt = call(f"{base}/valider", token, "POST", b"{}")
    if status != 200:
        failures.append(("valider", status, receipt))
    return failures


def test_parallel_uploads_and_finalisations_on_sqlite(tmp_path):
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'depots.sqlite3'}",
        "PREUVES_TEST_KEY_DIR": str(tmp_path / "cles"),
        "PROFIL_TEST_MEDIA_ROOT": str(tmp_path / "media"),
        "CELERY_BROKER_URL": "",
    }
    migrated = _manage(env, "migrate", "--noinput", "-v", "0")
    assert migrated.returncode == 0, migrated.stderr
    made = _manage(env, "shell", "--no-imports", "-v", "0", "-c", SETUP.format(companies=SMALL + 1))
    assert made.returncode == 0, made.stderr
    setup = json.loads(made.stdout.strip().splitlines()[-1])
    recipient = [pyrage.x25519.Recipient.from_str(setup["recipient"])]
    big = pyrage.encrypt(os.urandom(BIG), recipient)
    smalls = [pyrage.encrypt(b"offre %d" % n, recipient) for n in range(SMALL)]

    with running_server(env, tmp_path / "serveur.log") as url:
        api = url + "/api/v1/depots"
        start = threading.Barrier(SMALL + 1)
        failures: list = []
        jobs = [(setup["tokens"][0], big, BIG_CHUNK)]
        jobs += [(token, data, len(data)) for token, data in zip(setup["tokens"][1:], smalls, strict=True)]

        def run(token, data, chunk):
            try:
                failures.extend(_deposit(api, token, setup["consultation"], data, chunk, start))
            except Exception as exc:  # noqa: BLE001 — a 500's page is not JSON: a failure too
                failures.append(("exception", repr(exc)))

        threads = [threading.Thread(target=run, args=job) for job in jobs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        log = (tmp_path / "serveur.log").read_text()
        errors = [line for line in log.splitlines() if any(m in line for m in ('" 5', "Traceback", "Error"))]
        assert failures == [], "\n".join(errors[:50]) + "\n" + log[-3000:]
        assert "database is locked" not in log

    # Every reception is a leaf of the log, at contiguous indexes: the full verification passes.
    verified = _manage(env, "preuves", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    counted = _manage(
        env, "shell", "--no-imports", "-v", "0", "-c",
        "from offres.models import Deposit\n"
        "print(sorted(Deposit.objects.filter(state='received').values_list('log_index', flat=True)))",
    )  # fmt: skip
    indexes = json.loads(counted.stdout.strip().splitlines()[-1])
    assert len(indexes) == SMALL + 1
    assert len(set(indexes)) == SMALL + 1
