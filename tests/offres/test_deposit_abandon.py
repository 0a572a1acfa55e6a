"""Removing an announced file, abandoning a deposit in progress (DELETE
/api/v1/depots/<id>/fichiers/<file_id>, POST /api/v1/depots/<id>/abandonner): a refused file
no longer blocks its deposit, and what is removed leaves the storage. With a personal token
(the `age` command line) and with the page's session and CSRF token (static/offres/src/depot.js)."""

import io

import pytest
from django.test import Client
from django.urls import reverse

from comptes.services import api_token_create
from offres import deposits
from offres.models import Deposit, DepositChunk, DepositFile
from preuves.models import JournalEntry
from tests.factories import MembershipFactory
from tests.helpers import login_as, text

from . import builders

pytestmark = pytest.mark.django_db


@pytest.fixture
def company_member():
    return MembershipFactory(company_admin=True).user


def api(user):
    client = Client()
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {api_token_create(user=user, name='cli')[1]}"
    return client


def stored(tmp_path) -> list:
    media = tmp_path / "media"
    return sorted(p.relative_to(media).as_posix() for p in media.rglob("*.part")) if media.exists() else []


def announce(client, deposit_id, name, size):
    response = client.post(
        f"/api/v1/depots/{deposit_id}/fichiers/",
        {"envelope": "offer", "name": name, "size": size},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    return response.json()


def put(client, deposit_id, file_id, offset, data):
    return client.generic(
        "PUT",
        f"/api/v1/depots/{deposit_id}/fichiers/{file_id}/contenu?offset={offset}",
        data,
        content_type="application/octet-stream",
    )


@pytest.fixture
def in_progress(published, company_member):
    """A deposit in progress: one offer file received whole, one half sent."""
    consultation, _ = published
    whole = builders.encrypt_to(consultation, "offer", b"offre " * 1000)
    half = builders.encrypt_to(consultation, "offer", b"annexe " * 1000)
    deposit = builders.uploaded(consultation, company_member, [("offer", "offre.pdf.age", whole)])
    partial = deposits.file_add(
        deposit=deposit, user=company_member, envelope="offer", name="annexe.pdf.age", size=len(half)
    )
    deposits.chunk_receive(
        file=partial, user=company_member, offset=0, stream=io.BytesIO(half[:1000]), length=1000
    )
    return deposit, partial


def test_validation_stays_blocked_for_ever_after_a_refused_file(
    published, company_member, django_capture_on_commit_callbacks
):
    """The report: a file refused at its first chunk stays announced, and validation answers 409
    for ever. Now the company removes it and validates the rest."""
    consultation, _ = published
    client = api(company_member)
    deposit = client.post(
        "/api/v1/depots/", {"consultation": consultation.pk}, content_type="application/json"
    ).json()
    good = builders.encrypt_to(consultation, "offer", b"offre")
    file = announce(client, deposit["id"], "offre.pdf.age", len(good))
    assert put(client, deposit["id"], file["id"], 0, good).status_code == 200
    clear = b"%PDF-1.7 une annexe en clair" + bytes(100)
    refused = announce(client, deposit["id"], "annexe.pdf", len(clear))
    assert put(client, deposit["id"], refused["id"], 0, clear).status_code == 415
    finalise = f"/api/v1/depots/{deposit['id']}/valider"
    assert client.post(finalise).status_code == 409  # « Envoi incomplet : annexe.pdf … »
    with django_capture_on_commit_callbacks(execute=True):  # the storage deletions
        response = client.delete(f"/api/v1/depots/{deposit['id']}/fichiers/{refused['id']}")
    assert response.status_code == 204, response.content
    assert response.content == b""
    receipt = client.post(finalise)
    assert receipt.status_code == 200, receipt.content
    assert [f["name"] for f in receipt.json()["files"]] == ["offre.pdf.age"]


def test_removing_a_partly_sent_file_removes_its_rows_and_its_stored_chunks(
    in_progress, company_member, tmp_path, django_capture_on_commit_callbacks
):
    deposit, partial = in_progress
    kept = DepositChunk.objects.exclude(file=partial).get()
    assert len(stored(tmp_path)) == 2
    with django_capture_on_commit_callbacks(execute=True):  # the storage deletions
        response = api(company_member).delete(f"/api/v1/depots/{deposit.public_id}/fichiers/{partial.pk}")
    assert response.status_code == 204
    assert not DepositFile.objects.filter(pk=partial.pk).exists()
    assert list(DepositChunk.objects.all()) == [kept]
    assert stored(tmp_path) == [kept.storage_name]
    entry = JournalEntry.objects.get(action="deposit.file_removed")
    assert entry.target_id == str(deposit.pk)
    assert entry.payload == {
        "consultation": deposit.consultation_id,
        "file": partial.pk,
        "envelope": "offer",
        "size": partial.size,
        "chunks": 1,
        "bytes": 1000,
    }
    assert "annexe" not in str(entry.payload)  # no file name in the journal before the opening


def test_a_file_is_removed_only_from_its_own_deposit_in_progress(in_progress, company_member, published):
    deposit, partial = in_progress
    client = api(company_member)
    url = f"/api/v1/depots/{deposit.public_id}/fichiers/{partial.pk}"
    # Another company: the deposit is not there for it.
    stranger = api(MembershipFactory(company_admin=True).user)
    response = stranger.delete(url)
    assert (response.status_code, response.json()["error"]["message"]) == (404, "Pli introuvable.")
    # A file of another deposit of the same company.
    consultation, _ = published
    other = builders.uploaded(consultation, company_member, [])
    response = client.delete(f"/api/v1/depots/{other.public_id}/fichiers/{partial.pk}")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")
    assert response.json()["error"]["message"] == "Fichier introuvable dans ce pli."
    assert DepositFile.objects.filter(pk=partial.pk).exists()
    assert not JournalEntry.objects.filter(action="deposit.file_removed").exists()


def test_nothing_is_removed_from_a_received_deposit(received, bidder_membership, tmp_path):
    file = received.files.get()
    before = stored(tmp_path)
    client = api(bidder_membership.user)
    response = client.delete(f"/api/v1/depots/{received.public_id}/fichiers/{file.pk}")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "received"
    response = client.post(f"/api/v1/depots/{received.public_id}/abandonner")
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "received",
        "message": "Ce pli est déjà reçu : il est conservé et ne peut pas être abandonné.",
        "details": {},
    }
    received.refresh_from_db()
    assert received.state == Deposit.State.RECEIVED
    assert received.files.get().chunks.count() == 1
    assert stored(tmp_path) == before != []


def test_an_abandoned_deposit_loses_its_chunks_and_takes_nothing_more(
    in_progress, company_member, tmp_path, django_capture_on_commit_callbacks
):
    deposit, partial = in_progress
    client = api(company_member)
    base = f"/api/v1/depots/{deposit.public_id}"
    with django_capture_on_commit_callbacks(execute=True):  # the storage deletions
        response = client.post(f"{base}/abandonner")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["id"] == str(deposit.public_id)
    assert body["state"] == "abandoned"
    assert body["abandoned_at"]
    assert [f["name"] for f in body["files"]] == ["offre.pdf.age", "annexe.pdf.age"]  # the record stays
    assert stored(tmp_path) == []
    assert not DepositChunk.objects.exists()
    entry = JournalEntry.objects.get(action="deposit.abandoned")
    assert entry.payload == {
        "consultation": deposit.consultation_id,
        "reason": "company",
        "files": 2,
        "chunks": 2,
        "bytes": DepositFile.objects.get(name="offre.pdf.age").size + 1000,
        "announced": sum(DepositFile.objects.values_list("size", flat=True)),
    }
    # Nothing more: no file, no chunk, no removal, no validation.
    refusals = [
        client.post(f"{base}/fichiers/", {"envelope": "offer", "name": "x", "size": 9}, "application/json"),
        put(client, deposit.public_id, partial.pk, 1000, b"x"),
        client.delete(f"{base}/fichiers/{partial.pk}"),
        client.post(f"{base}/valider"),
    ]
    for response in refusals:
        assert response.status_code == 409, response.content
        assert response.json()["error"]["code"] == "abandoned"
        assert "Ce pli a été abandonné" in response.json()["error"]["message"]
    # Abandoning again answers the same, and journals nothing more.
    again = client.post(f"{base}/abandonner")
    assert again.status_code == 200
    assert again.json()["abandoned_at"] == body["abandoned_at"]
    assert JournalEntry.objects.filter(action="deposit.abandoned").count() == 1


def test_another_company_cannot_abandon_a_deposit(in_progress):
    deposit, _ = in_progress
    response = api(MembershipFactory(company_admin=True).user).post(
        f"/api/v1/depots/{deposit.public_id}/abandonner"
    )
    assert (response.status_code, response.json()["error"]["message"]) == (404, "Pli introuvable.")
    deposit.refresh_from_db()
    assert deposit.state == Deposit.State.UPLOADING


def test_the_page_removes_and_abandons_with_its_session_and_csrf_token(in_progress, company_member):
    """As depot.js calls them: the session cookie, and the CSRF token in X-CSRFToken."""
    deposit, partial = in_progress
    client = login_as(Client(enforce_csrf_checks=True), company_member)
    token = client.get(reverse("offres:deposit_new", args=[deposit.consultation_id])).context["csrf_token"]
    base = f"/api/v1/depots/{deposit.public_id}"
    # Without the token: refused, nothing changed.
    assert client.delete(f"{base}/fichiers/{partial.pk}").status_code == 403
    assert client.post(f"{base}/abandonner", content_type="application/json").status_code == 403
    assert DepositFile.objects.filter(pk=partial.pk).exists()
    response = client.delete(f"{base}/fichiers/{partial.pk}", headers={"X-CSRFToken": str(token)})
    assert response.status_code == 204, response.content
    response = client.post(
        f"{base}/abandonner", content_type="application/json", headers={"X-CSRFToken": str(token)}
    )
    assert response.status_code == 200, response.content
    assert response.json()["state"] == "abandoned"


def test_my_deposits_show_an_abandoned_deposit_as_abandoned_not_received(in_progress, company_member):
    deposit, _ = in_progress
    deposits.deposit_abandon(deposit=deposit, user=company_member)
    client = login_as(Client(), company_member)
    listing = text(client.get(reverse("offres:deposit_list")))
    assert "Abandonné" in listing
    assert ">Reçu<" not in listing
    assert "ne compte pas" in listing
    detail = text(client.get(reverse("offres:deposit_detail", args=[deposit.public_id])))
    assert "Pli non reçu" in detail
    assert "Il a été abandonné le" in detail
    assert "(effacés)" in detail  # what was received is gone
