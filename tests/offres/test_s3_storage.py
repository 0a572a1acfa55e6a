"""Production stores deposits in S3-compatible object storage (django-storages): the same
upload, completion, finalisation and receipt code, with every chunk an object of the bucket
and nothing on the web server's disk.

No S3 service runs on this machine; the test starts moto's S3 server (`python -m
moto.server`, requirements/dev.txt), an implementation of the S3 HTTP API, in its own
process, and talks to it over HTTP with boto3 exactly as production talks to its provider."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import urllib.request

import pytest

from offres.models import Deposit
from tests.servers import free_port

from . import builders, evidence
from .test_deposit_api import CHUNK, call, post_json, put_chunk

BUCKET = "plis-test"
CREDENTIALS = {"access_key": "test", "secret_key": "test", "region_name": "us-east-1"}


@pytest.fixture
def s3(tmp_path):
    pytest.importorskip("moto", reason="needs the Python package moto[s3] (requirements/dev.txt)")
    import boto3

    port = free_port()
    with (tmp_path / "s3.log").open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        endpoint = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen(endpoint, timeout=2).close()
                    break
                except OSError:
                    time.sleep(0.2)
            client = boto3.client(
                "s3",
                endpoint_url=endpoint,
                aws_access_key_id=CREDENTIALS["access_key"],
                aws_secret_access_key=CREDENTIALS["secret_key"],
                region_name=CREDENTIALS["region_name"],
            )
            client.create_bucket(Bucket=BUCKET)
            yield endpoint, client
        finally:
            process.terminate()
            process.wait(timeout=10)


def _objects(client) -> dict[str, bytes]:
    listed = client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {o["Key"]: client.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed}


def test_a_deposit_stored_in_s3(deposit_setup, s3, settings, tmp_path, published):
    endpoint, client = s3
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": endpoint,
                "default_acl": None,
                "file_overwrite": False,
                **CREDENTIALS,
            },
        },
    }
    _, members = published
    token, base, file, ciphertext = deposit_setup
    offset = 0
    while offset < len(ciphertext):
        status, state = put_chunk(token, base, file["id"], offset, ciphertext[offset : offset + CHUNK])
        assert status == 200, state
        offset = state["received"]
    assert state["sha256"] == hashlib.sha256(ciphertext).hexdigest()
    # A second file sent as one 10 MiB chunk: above boto3's multipart threshold (8 MiB), the
    # non-seekable chunk stream goes up in parts.
    big = os.urandom(10 * 1024 * 1024)
    big_ciphertext = builders.encrypt_to(Deposit.objects.get().consultation, "application", big)
    status, second = post_json(
        f"{base}/fichiers/",
        token,
        {"envelope": "application", "name": "dume.zip.age", "size": len(big_ciphertext)},
    )
    assert status == 201, second
    status, state = put_chunk(token, base, second["id"], 0, big_ciphertext)
    assert status == 200, state
    assert state["sha256"] == hashlib.sha256(big_ciphertext).hexdigest()
    status, receipt = call(f"{base}/valider", token, "POST", b"{}")
    assert status == 200, receipt

    deposit = Deposit.objects.get()
    stored = _objects(client)
    offer = deposit.files.get(envelope="offer")
    chunks = sorted(key for key in stored if key.startswith(f"plis/{deposit.public_id}/{offer.pk}/"))
    assert len(chunks) == offer.chunks.count() >= 4
    assert b"".join(stored[key] for key in chunks) == ciphertext
    [big_key] = [key for key in stored if key.startswith(f"plis/{deposit.public_id}/{second['id']}/")]
    assert stored[big_key] == big_ciphertext
    assert stored[f"recus/{deposit.public_id}.pdf"].startswith(b"%PDF")  # the receipt, in the bucket
    assert not (tmp_path / "media" / "plis").exists()  # nothing on the web server's disk
    # What the ceremony will read back from the bucket opens with the quorum.
    clear = (tmp_path / "offre.pdf").read_bytes()
    assert evidence.open_with_quorum(offer, members) == clear
    assert evidence.open_with_quorum(deposit.files.get(envelope="application"), members) == big
    assert all(clear[:32] not in body for body in stored.values())


def test_removing_a_file_and_abandoning_a_deposit_delete_their_objects_in_s3(deposit_setup, s3, settings):
    endpoint, client = s3
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": endpoint,
                "default_acl": None,
                "file_overwrite": False,
                **CREDENTIALS,
            },
        },
    }
    token, base, file, ciphertext = deposit_setup
    for offset in (0, CHUNK):
        assert put_chunk(token, base, file["id"], offset, ciphertext[offset : offset + CHUNK])[0] == 200
    other = builders.encrypt_to(Deposit.objects.get().consultation, "application", b"dc1")
    status, second = post_json(
        f"{base}/fichiers/", token, {"envelope": "application", "name": "dc1.age", "size": len(other)}
    )
    assert status == 201, second
    assert put_chunk(token, base, second["id"], 0, other)[0] == 200
    deposit = Deposit.objects.get()
    assert len(_objects(client)) == 3
    # A DELETE answers 204 with no body (call() reads JSON).
    request = urllib.request.Request(f"{base}/fichiers/{second['id']}", method="DELETE")
    request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 204
    assert sorted(_objects(client)) == sorted(c.storage_name for c in deposit.files.get().chunks.all())
    assert all(key.startswith(f"plis/{deposit.public_id}/{file['id']}/") for key in _objects(client))
    status, body = call(f"{base}/abandonner", token, "POST", b"{}")
    assert (status, body["state"]) == (200, "abandoned")
    assert _objects(client) == {}
