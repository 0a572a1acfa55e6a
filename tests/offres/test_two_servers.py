"""An upload session is not tied to one application server: two server processes over the
same database and storage each receive every other chunk of one upload."""

import hashlib

import pytest
from django.conf import settings

from offres.models import DepositChunk
from tests.servers import running_server
from tests.test_celery_worker import database_url

from .test_deposit_api import CHUNK, call, put_chunk


@pytest.fixture
def two_servers(deposit_setup, tmp_path):
    env = {
        "DATABASE_URL": database_url(),
        "PREUVES_TEST_KEY_DIR": str(settings.PREUVES_KEY_DIR),
        "PROFIL_TEST_MEDIA_ROOT": settings.STORAGES["default"]["OPTIONS"]["location"],
    }
    with (
        running_server(env, tmp_path / "serveur-0.log") as first,
        running_server(env, tmp_path / "serveur-1.log") as second,
    ):
        yield [first, second]


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
