"""Depositing through the API, as a bidder with the `age` command line and plain HTTP calls
(urllib against the live server, as curl would): open a deposit, announce a file encrypted
offline, send it in chunks, resume after an interruption."""

import hashlib
import json
import shutil
import urllib.error
import urllib.request

import pytest

from comptes.services import api_token_create
from offres.models import DepositChunk, DepositFile
from tests.factories import MembershipFactory

from . import evidence

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
            return response.status, _json(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, _json(exc.read())


def _json(body: bytes):
    """The answer's JSON; an answer that is not JSON (a server error's HTML page) is kept as
    text, so that a test's failure shows what came back."""
    try:
        return json.loads(body)
    except ValueError:
        return {"not_json": body[:2000].decode("utf-8", "replace")}


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


# --- Finalisation and receipt ------------------------------------------------------------------


def upload_all(token, base, file, ciphertext):
    offset = 0
    while offset < len(ciphertext):
        status, state = put_chunk(token, base, file["id"], offset, ciphertext[offset : offset + CHUNK])
        assert status == 200, state
        offset = state["received"]


def get_bytes(url: str, token: str) -> bytes:
    request = urllib.request.Request(url)
    request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.read()


def test_a_received_deposit_gets_a_receipt_whose_proofs_verify(deposit_setup, tmp_path, mailoutbox):
    from preuves import pdf

    token, base, file, ciphertext = deposit_setup
    upload_all(token, base, file, ciphertext)
    status, receipt = call(f"{base}/valider", token, "POST", b"{}")
    assert status == 200, receipt
    assert receipt["state"] == "received"
    assert receipt["late"] is False
    assert set(receipt["mentions"]) >= {
        "Déposé par",
        "Acheteur",
        "Consultation",
        "Date et heure de réception",
    }
    assert receipt["files"][0]["sha256"] == hashlib.sha256(ciphertext).hexdigest()
    # The bundle, checked offline by the standalone verifier with the published keys and the
    # manifest whose digest was timestamped; the token, by openssl.
    root = base.split("/api/")[0]
    evidence.assert_proofs_verify(
        lambda path: get_bytes(root + path, token), receipt["id"], receipt["digest"], tmp_path
    )
    # The sealed PDF, also sent by e-mail.
    document = get_bytes(f"{base}/accuse.pdf", token)
    [seal] = pdf.validate(document)
    assert seal.intact
    assert seal.trusted
    assert seal.timestamp_valid
    [mail] = mailoutbox
    assert "Accusé de réception de votre pli" in mail.subject
    assert receipt["digest"] in mail.body
    assert mail.attachments[0][1] == document


def test_finalising_twice_gives_the_same_receipt(deposit_setup):
    from preuves.models import LogLeaf

    token, base, file, ciphertext = deposit_setup
    upload_all(token, base, file, ciphertext)
    _, first = call(f"{base}/valider", token, "POST", b"{}")
    _, second = call(f"{base}/valider", token, "POST", b"{}")
    assert first == second
    assert LogLeaf.objects.filter(kind="deposit").count() == 1


def test_an_incomplete_deposit_cannot_be_finalised(deposit_setup):
    token, base, file, ciphertext = deposit_setup
    put_chunk(token, base, file["id"], 0, ciphertext[:CHUNK])
    status, error = call(f"{base}/valider", token, "POST", b"{}")
    assert status == 409
    assert "Envoi incomplet : offre.pdf.age" in error["error"]["message"]
    assert call(f"{base}/preuve", token)[0] == 409


def test_a_deposit_finalised_after_the_deadline_is_kept_and_flagged_late(deposit_setup):
    from django.utils import timezone

    from marches.models import Consultation
    from offres.models import Deposit

    token, base, file, ciphertext = deposit_setup
    upload_all(token, base, file, ciphertext)
    deposit = Deposit.objects.get()
    Consultation.objects.filter(pk=deposit.consultation_id).update(
        deadline=timezone.now() - timezone.timedelta(seconds=1)
    )
    status, receipt = call(f"{base}/valider", token, "POST", b"{}")
    assert status == 200
    assert receipt["late"] is True
    assert receipt["mentions"]["Délai"].startswith("HORS DÉLAI")


def test_no_plaintext_reaches_the_database_or_the_storage(deposit_setup, tmp_path):
    """The deposit's plaintext carries a marker; after the whole deposit, neither the
    database nor the storage holds it."""
    token, base, file, ciphertext = deposit_setup
    upload_all(token, base, file, ciphertext)
    call(f"{base}/valider", token, "POST", b"{}")
    marker = (tmp_path / "offre.pdf").read_bytes()[:32]
    evidence.assert_nowhere(marker, tmp_path / "media")


def test_a_failure_during_finalisation_leaves_no_acknowledged_deposit(
    deposit_setup, settings, tmp_path, mailoutbox
):
    """The timestamping authority is down at the moment of finalisation: the transaction
    rolls back whole — no reception time, no log leaf, no journal entry, no receipt, nothing
    in the register — the bidder is told to try again, and the retry receives the deposit."""
    from offres import registers
    from offres.models import Deposit
    from preuves import timestamps
    from preuves.models import JournalEntry, LogLeaf, TimestampToken
    from tests.servers import free_port

    token, base, file, ciphertext = deposit_setup
    upload_all(token, base, file, ciphertext)
    (tmp_path / "tsa-ca.pem").write_text(timestamps.ca_pem())
    settings.TSA_URL = f"http://127.0.0.1:{free_port()}/tsa"  # nothing listens there
    settings.TSA_CA_BUNDLE = str(tmp_path / "tsa-ca.pem")
    status, error = call(f"{base}/valider", token, "POST", b"{}")
    assert status == 502
    assert "l'autorité d'horodatage ne répond pas" in error["error"]["message"]
    deposit = Deposit.objects.get()
    assert (deposit.state, deposit.received_at, deposit.log_index) == (Deposit.State.UPLOADING, None, None)
    assert not LogLeaf.objects.filter(kind="deposit").exists()
    assert not TimestampToken.objects.exists()
    assert not JournalEntry.objects.filter(action="deposit.received").exists()
    assert registers.deposit_register(deposit.consultation) == []
    assert not list((tmp_path / "media").rglob("recus/*"))
    assert mailoutbox == []
    assert call(f"{base}/preuve", token)[0] == 409
    # The file is still whole on the server: the retry needs no new upload.
    settings.TSA_URL = ""
    status, receipt = call(f"{base}/valider", token, "POST", b"{}")
    assert status == 200, receipt
    assert receipt["files"][0]["sha256"] == hashlib.sha256(ciphertext).hexdigest()
    assert len(registers.deposit_register(deposit.consultation)) == 1


def test_a_chunk_is_on_disk_before_it_is_acknowledged(published, tmp_path, monkeypatch):
    """Each chunk's file, its folder and, for a first chunk, the folders made for it are
    flushed (fsync) before the chunk's row is written; a flush that fails acknowledges
    nothing and leaves nothing."""
    import io
    import os

    from offres import deposits
    from offres.models import DepositChunk
    from tests.factories import MembershipFactory

    from . import builders

    consultation, _ = published
    user = MembershipFactory(company_admin=True).user
    opened = deposits.deposit_open(
        consultation=consultation, company=deposits.company_for(user), user=user, lots=[]
    )
    ciphertext = builders.encrypt_to(consultation, "offer", os.urandom(2 * CHUNK))
    file = deposits.file_add(deposit=opened, user=user, envelope="offer", name="o.age", size=len(ciphertext))
    flushed: list[tuple[str, int]] = []
    real_fsync = os.fsync

    def recording_fsync(descriptor):
        flushed.append((os.readlink(f"/proc/self/fd/{descriptor}"), DepositChunk.objects.count()))
        real_fsync(descriptor)

    monkeypatch.setattr(deposits.os, "fsync", recording_fsync)
    deposits.chunk_receive(
        file=file, user=user, offset=0, stream=io.BytesIO(ciphertext[:CHUNK]), length=CHUNK
    )
    media = tmp_path / "media"
    chunk_path = media / DepositChunk.objects.get().storage_name
    assert [path for path, _ in flushed] == [
        str(chunk_path),
        str(chunk_path.parent),
        str(chunk_path.parent.parent),
        str(media / "plis"),
        str(media),
    ]
    assert {rows for _, rows in flushed} == {0}  # all before the chunk's row

    def failing_fsync(descriptor):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(deposits.os, "fsync", failing_fsync)
    rest = ciphertext[CHUNK:]
    with pytest.raises(OSError, match="Input/output error"):
        deposits.chunk_receive(file=file, user=user, offset=CHUNK, stream=io.BytesIO(rest), length=len(rest))
    file.refresh_from_db()
    assert file.received == CHUNK
    assert DepositChunk.objects.count() == 1
    assert sorted(p.name for p in chunk_path.parent.iterdir()) == [chunk_path.name]  # nothing left
