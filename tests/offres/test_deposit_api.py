"""Depositing through the API, as a bidder with the `age` command line and plain HTTP calls
(urllib against the live server, as curl would): open a deposit, announce a file encrypted
offline, send it in chunks, resume after an interruption."""

import hashlib
import json
import shutil
import urllib.error
import urllib.request

from comptes.services import api_token_create
from offres.models import DepositChunk, DepositFile
from tests.factories import MembershipFactory

AGE = shutil.which("age")
CHUNK = 64 * 1024


def call(
    url: str,
    token: str,
    method: str = "GET",
    body: bytes | None = None,
    content_type: str = "application/json",
):
    request = urllib.request.Request(url, data=body, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def post_json(url: str, token: str, data: dict):
    return call(url, token, "POST", json.dumps(data).encode())


def put_chunk(token, base, file_id, offset, data):
    return call(
        f"{base}/fichiers/{file_id}/contenu?offset={offset}", token, "PUT", data, "application/octet-stream"
    )


def test_cli_deposit_in_chunks(deposit_setup):
    token, base, file, ciphertext = deposit_setup
    offset = 0
    while offset < len(ciphertext):
        status, state = put_chunk(token, base, file["id"], offset, ciphertext[offset : offset + CHUNK])
        assert status == 200, state
        offset = state["received"]
    assert state["complete"]
    assert state["sha256"] == hashlib.sha256(ciphertext).hexdigest()
    status, deposit = call(base + "/", token)
    assert deposit["files"][0]["received"] == len(ciphertext)


def test_an_interrupted_upload_resumes_where_the_server_stopped(deposit_setup):
    token, base, file, ciphertext = deposit_setup
    put_chunk(token, base, file["id"], 0, ciphertext[:CHUNK])
    # The connection drops; the client asks where to resume, and a chunk sent twice or out of
    # order is refused with that position.
    status, state = call(f"{base}/fichiers/{file['id']}/contenu", token)
    assert (status, state["received"]) == (200, CHUNK)
    status, error = put_chunk(token, base, file["id"], 0, ciphertext[:CHUNK])
    assert status == 409
    assert error["error"]["details"]["expected_offset"] == CHUNK
    assert "reprenez à la position 65536" in error["error"]["message"]
    status, error = put_chunk(token, base, file["id"], 2 * CHUNK, ciphertext[2 * CHUNK : 3 * CHUNK])
    assert status == 409
    status, state = put_chunk(token, base, file["id"], CHUNK, ciphertext[CHUNK:])
    assert status == 200
    assert state["sha256"] == hashlib.sha256(ciphertext).hexdigest()
    assert list(DepositChunk.objects.values_list("offset", flat=True)) == [0, CHUNK]


def test_what_is_not_age_is_refused_at_the_first_chunk(deposit_setup, tmp_path):
    token, base, file, _ = deposit_setup
    status, error = put_chunk(token, base, file["id"], 0, b"%PDF-1.7 offre en clair" + bytes(100))
    assert status == 415
    assert "ce fichier n'est pas chiffré avec age" in error["error"]["message"]
    assert DepositFile.objects.get(pk=file["id"]).received == 0
    assert not DepositChunk.objects.exists()
    stored = list((tmp_path / "media").rglob("*.part")) if (tmp_path / "media").exists() else []
    assert stored == []  # nothing of the refused chunk stays in storage


def test_a_chunk_past_the_announced_size_is_refused(deposit_setup):
    token, base, file, ciphertext = deposit_setup
    status, error = put_chunk(token, base, file["id"], 0, ciphertext + b"en trop")
    assert status == 413
    assert "dépasse la taille annoncée" in error["error"]["message"]


def test_another_company_sees_nothing(deposit_setup, live_server):
    _, base, file, ciphertext = deposit_setup
    stranger = MembershipFactory(company_admin=True)
    _, other = api_token_create(user=stranger.user, name="autre")
    assert call(base + "/", other)[0] == 404
    status, error = put_chunk(other, base, file["id"], 0, ciphertext[:CHUNK])
    assert status == 404
    assert error["error"]["message"] == "Pli introuvable."


def test_the_deposit_size_limit(live_server, bidder, published):
    consultation, _ = published
    _, token = bidder
    api = live_server.url + "/api/v1"
    _, deposit = post_json(f"{api}/depots/", token, {"consultation": consultation.pk})
    status, error = post_json(
        f"{api}/depots/{deposit['id']}/fichiers/",
        token,
        {"envelope": "offer", "name": "enorme.age", "size": consultation.max_deposit_bytes + 1},
    )
    assert status == 413
    assert "taille maximale de la consultation" in error["error"]["message"]


def test_buyer_staff_cannot_deposit(live_server, published):
    consultation, _ = published
    agent = MembershipFactory(buyer_agent=True, user__totp=True)
    _, token = api_token_create(user=agent.user, name="agent")
    status, error = post_json(live_server.url + "/api/v1/depots/", token, {"consultation": consultation.pk})
    assert status == 403
    assert "seules les entreprises déposent des plis" in error["error"]["message"]
