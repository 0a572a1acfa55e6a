"""An upload session is not tied to one application server: two server processes over the
same database and storage each receive every other chunk of one upload."""

import hashlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.conf import settings

from offres.models import DepositChunk
from tests.test_celery_worker import database_url

from .test_deposit_api import CHUNK, call, put_chunk

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def two_servers(deposit_setup, tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url(),
        "PREUVES_TEST_KEY_DIR": str(settings.PREUVES_KEY_DIR),
        "PROFIL_TEST_MEDIA_ROOT": settings.STORAGES["default"]["OPTIONS"]["location"],
    }
    processes, urls, logs = [], [], []
    for n in range(2):
        port = free_port()
        log = (tmp_path / f"serveur-{n}.log").open("w")
        logs.append(log)
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "manage.py",
                    "runserver",
                    "--noreload",
                    "--skip-checks",
                    f"127.0.0.1:{port}",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        urls.append(f"http://127.0.0.1:{port}")
    try:
        for url in urls:
            for _ in range(100):
                try:
                    urllib.request.urlopen(url + "/healthz", timeout=2).close()
                    break
                except OSError:
                    time.sleep(0.2)
            else:
                pytest.fail("a server process did not start:\n" + (tmp_path / "serveur-0.log").read_text())
        yield urls
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)
        for log in logs:
            log.close()


def test_alternate_chunks_reach_two_server_processes(deposit_setup, two_servers, live_server):
    token, base, file, ciphertext = deposit_setup
    path = base.removeprefix(live_server.url)
    offset, turn = 0, 0
    while offset < len(ciphertext):
        server = two_servers[turn % 2]
        status, state = put_chunk(
            token, server + path, file["id"], offset, ciphertext[offset : offset + CHUNK]
        )
        assert status == 200, state
        offset, turn = state["received"], turn + 1
    assert turn >= 4
    assert state["complete"]
    assert state["sha256"] == hashlib.sha256(ciphertext).hexdigest()
    assert DepositChunk.objects.filter(file_id=file["id"]).count() == turn
    status, deposit = call(two_servers[0] + path + "/", token)
    assert deposit["files"][0]["sha256"] == state["sha256"]
