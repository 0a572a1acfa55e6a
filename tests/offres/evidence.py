"""Checks shared by the deposit tests, whatever client made the deposit (curl-style calls,
the browser): the receipt's proofs pass the standalone verifier and `openssl ts -verify`,
no plaintext marker is anywhere in the database or the storage, and what is stored opens
with the commission's quorum."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pyrage
from django.core.files.storage import default_storage
from django.db import connection

from offres import opening_keys
from offres.models import DepositFile
from tests.factories import CEREMONY_PASSPHRASE

VERIFIER = Path(__file__).resolve().parents[2] / "preuves" / "verifier.py"


def assert_proofs_verify(fetch: Callable[[str], bytes], deposit_id: str, digest: str, folder: Path) -> dict:
    """`fetch(path)` returns the bytes the platform serves at `path` to the depositor. Runs the
    standalone verifier on the proof bundle with the published keys and the manifest, then
    `openssl ts -verify` on the token; returns the bundle."""
    base = f"/api/v1/depots/{deposit_id}"
    (folder / "preuve.json").write_bytes(fetch(f"{base}/preuve"))
    (folder / "bordereau.json").write_bytes(fetch(f"{base}/bordereau.json"))
    (folder / "journal.pem").write_bytes(fetch("/preuves/log/key.pem"))
    (folder / "tsa-ca.pem").write_bytes(fetch("/preuves/tsa/ca.pem"))
    verified = subprocess.run(
        [sys.executable, str(VERIFIER), "preuve.json", "--log-key", "journal.pem", "--tsa-ca", "tsa-ca.pem",
         "--data", "bordereau.json"],
        cwd=folder, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert hashlib.sha256((folder / "bordereau.json").read_bytes()).hexdigest() == digest
    bundle = json.loads((folder / "preuve.json").read_text())
    (folder / "jeton.tsr").write_bytes(base64.b64decode(bundle["timestamp"]["tsr"]))
    openssl = subprocess.run(
        ["openssl", "ts", "-verify", "-digest", digest, "-in", "jeton.tsr", "-CAfile", "tsa-ca.pem"],
        cwd=folder, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert openssl.returncode == 0, openssl.stderr
    return bundle


def assert_nowhere(marker: bytes, media_root: Path) -> None:
    """`marker` is in no file of the storage and no value of any table."""
    files = [path for path in media_root.rglob("*") if path.is_file()]
    assert files  # the chunks and the receipt are there
    for path in files:
        assert marker not in path.read_bytes(), path
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')
            for row in cursor.fetchall():
                for value in row:
                    raw = bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode()
                    assert marker not in raw, table


def stored_ciphertext(file: DepositFile) -> bytes:
    """The file as stored: its chunks read back in order."""
    parts = []
    for chunk in file.chunks.order_by("offset"):
        with default_storage.open(chunk.storage_name, "rb") as handle:
            parts.append(handle.read())
    return b"".join(parts)


def open_with_quorum(file: DepositFile, members, passphrase: str = CEREMONY_PASSPHRASE) -> bytes:
    """Decrypt a stored file as the ceremony will: the envelope's identity rebuilt from the
    shares of the first `threshold` members."""
    key = file.deposit.consultation.opening_keys.get(envelope=file.envelope)
    shares = list(
        key.shares.select_related("member", "ceremony_key", "opening_key").order_by("index")[: key.threshold]
    )
    identity = opening_keys.reconstruct(key, [opening_keys.unlock_share(s, passphrase) for s in shares])
    return pyrage.decrypt(stored_ciphertext(file), [identity])
