"""DCE downloads: free and anonymous, one file or the whole version as a zip streamed from
storage. Only identified downloads (a logged-in user, or a visitor who left a name and an
e-mail address) are written in the download register."""

import io
import zipfile

import pytest
from django.http import FileResponse, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone

from marches import dce_zip, storage
from marches.models import Consultation, DceDownload, DceVersion
from marches.views.public import SESSION_IDENTITY
from preuves.models import JournalEntry

from ..factories import ConsultationFactory, add_dce_file
from ..helpers import login_as

pytestmark = pytest.mark.django_db

FILES = {
    "RC.pdf": b"%PDF-1.4 reglement de consultation",
    "Pièces techniques/CCTP.pdf": b"%PDF-1.4 cahier des clauses techniques",
    "Pièces techniques/plans/plan-RDC.dwg": b"AC1027 plan",
}


@pytest.fixture
def consultation():
    return ConsultationFactory(published=True, reference="2026/TX 042", dce=FILES)


def _file(consultation, path):
    return consultation.dce_versions.get(number=1).files.get(path=path)


def _file_url(consultation, path):
    return reverse("marches:file_download", args=[consultation.pk, _file(consultation, path).pk])


def _zip_url(consultation, number=1):
    return reverse("marches:zip_download", args=[consultation.pk, number])


def _identify(client, **identity):
    session = client.session
    session[SESSION_IDENTITY] = {
        "name": "Jeanne Martin",
        "email": "jeanne@toitures.fr",
        "company_name": "Toitures SA",
    } | identity
    session.save()


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


# --- One file -----------------------------------------------------------------------------------


def test_anonymous_file_download_records_nothing(client, consultation):
    response = client.get(_file_url(consultation, "Pièces techniques/CCTP.pdf"))
    assert response.status_code == 200
    assert isinstance(response, FileResponse)
    assert _body(response) == FILES["Pièces techniques/CCTP.pdf"]
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment;")
    assert "CCTP.pdf" in response["Content-Disposition"]
    assert "Pi" not in response["Content-Disposition"]  # the base name, not the folder
    assert response["X-Content-Type-Options"] == "nosniff"
    assert not DceDownload.objects.exists()
    assert not JournalEntry.objects.filter(action="dce.downloaded").exists()


def test_unknown_type_is_sent_as_bytes(client, consultation):
    response = client.get(_file_url(consultation, "Pièces techniques/plans/plan-RDC.dwg"))
    assert _body(response) == FILES["Pièces techniques/plans/plan-RDC.dwg"]
    assert response["Content-Type"] in {"application/octet-stream", "image/vnd.dwg"}
    assert response["X-Content-Type-Options"] == "nosniff"


def test_identified_visitor_download_is_recorded(client, consultation):
    _identify(client)
    response = client.get(_file_url(consultation, "RC.pdf"))
    assert _body(response) == FILES["RC.pdf"]
    row = DceDownload.objects.get()
    assert (row.name, row.email, row.company_name) == ("Jeanne Martin", "jeanne@toitures.fr", "Toitures SA")
    assert row.user is None
    assert row.file == _file(consultation, "RC.pdf")
    assert row.version.number == 1
    assert row.consultation == consultation
    entry = JournalEntry.objects.get(action="dce.downloaded")
    assert entry.payload["file"] == "RC.pdf"


def test_logged_in_company_user_download_is_recorded(client, consultation, company_admin):
    login_as(client, company_admin.user)
    assert _body(client.get(_file_url(consultation, "RC.pdf"))) == FILES["RC.pdf"]
    row = DceDownload.objects.get()
    assert row.user == company_admin.user
    assert row.organisation == company_admin.organisation
    assert row.email == company_admin.user.email


def test_head_request_records_nothing(client, consultation):
    _identify(client)
    response = client.head(_file_url(consultation, "RC.pdf"))
    assert response.status_code == 200
    assert _body(response) == b""
    assert not DceDownload.objects.exists()


def test_download_stays_open_after_the_deadline(client):
    closed = ConsultationFactory(closed=True)
    assert closed.current_state == Consultation.State.CLOSED
    version = closed.dce_versions.get()
    response = client.get(reverse("marches:file_download", args=[closed.pk, version.files.get().pk]))
    assert response.status_code == 200
    assert _body(response) == b"%PDF-1.4 reglement de consultation"
    response = client.get(_zip_url(closed))
    assert response.status_code == 200
    assert zipfile.ZipFile(io.BytesIO(_body(response))).namelist()


def test_file_of_a_draft_is_404_and_journaled(client):
    draft = ConsultationFactory(dce={"secret.pdf": b"%PDF pas encore public"})
    dce_file = draft.dce_versions.get().files.get()
    response = client.get(reverse("marches:file_download", args=[draft.pk, dce_file.pk]))
    assert response.status_code == 404
    assert JournalEntry.objects.filter(action="access.denied", payload__model="marches.dcefile").count() == 1
    assert client.get(_zip_url(draft)).status_code == 404
    assert (
        JournalEntry.objects.filter(action="access.denied", payload__model="marches.dceversion").count() == 1
    )


def test_file_of_the_working_version_is_404(client, consultation):
    working = DceVersion.objects.create(
        consultation=consultation, number=2, created_by=consultation.created_by
    )
    dce_file = add_dce_file(working, "brouillon.pdf", b"%PDF en cours")
    assert (
        client.get(reverse("marches:file_download", args=[consultation.pk, dce_file.pk])).status_code == 404
    )
    assert client.get(_zip_url(consultation, 2)).status_code == 404
    assert JournalEntry.objects.filter(action="access.denied").count() == 2


def test_file_asked_under_another_consultation_is_404(client, consultation):
    other = ConsultationFactory(published=True)
    dce_file = _file(consultation, "RC.pdf")
    assert client.get(reverse("marches:file_download", args=[other.pk, dce_file.pk])).status_code == 404
    assert client.get(reverse("marches:file_download", args=[consultation.pk, 999_999])).status_code == 404
    assert client.get(_zip_url(consultation, 7)).status_code == 404


# --- The whole DCE as a zip ---------------------------------------------------------------------


def test_zip_contains_the_tree_under_the_reference(client, consultation):
    response = client.get(_zip_url(consultation))
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"] == "application/zip"
    assert 'filename="2026_TX_042_DCE_v1.zip"' in response["Content-Disposition"]
    assert response["Content-Disposition"].startswith("attachment;")
    body = _body(response)
    assert int(response["Content-Length"]) == len(body)
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.testzip() is None
        assert sorted(archive.namelist()) == sorted(f"2026_TX_042/{path}" for path in FILES)
        for path, content in FILES.items():
            assert archive.read(f"2026_TX_042/{path}") == content
    assert not DceDownload.objects.exists()


def test_identified_zip_download_is_recorded_once(client, consultation):
    _identify(client)
    _body(client.get(_zip_url(consultation)))
    row = DceDownload.objects.get()
    assert row.file is None
    assert row.email == "jeanne@toitures.fr"
    assert JournalEntry.objects.get(action="dce.downloaded").payload["file"] is None


def test_earlier_published_version_stays_downloadable(client, consultation):
    v2 = DceVersion.objects.create(
        consultation=consultation, number=2, created_by=consultation.created_by, published_at=timezone.now()
    )
    add_dce_file(v2, "RC.pdf", b"%PDF-1.4 reglement v2")
    for number, expected in ((1, FILES["RC.pdf"]), (2, b"%PDF-1.4 reglement v2")):
        with zipfile.ZipFile(io.BytesIO(_body(client.get(_zip_url(consultation, number))))) as archive:
            assert archive.read("2026_TX_042/RC.pdf") == expected
    with zipfile.ZipFile(io.BytesIO(_body(client.get(_zip_url(consultation, 2))))) as archive:
        assert archive.namelist() == ["2026_TX_042/RC.pdf"]


def test_zip_reads_storage_only_while_streaming(client, consultation, monkeypatch):
    opened = []
    real_open = storage.open_blob

    def spy(name):
        opened.append(name)
        return real_open(name)

    monkeypatch.setattr(storage, "open_blob", spy)
    response = client.get(_zip_url(consultation))
    assert opened == []  # nothing read until the response is consumed
    chunks = iter(response.streaming_content)
    next(chunks)
    assert len(opened) <= 1
    b"".join(chunks)
    assert len(opened) == len(FILES)


def test_large_file_streams_in_chunks(client):
    big = bytes(range(256)) * (20 * 1024 * 1024 // 256)  # 20 MB
    consultation = ConsultationFactory(published=True, reference="GROS", dce={"plans/maquette.ifc": big})
    dce_file = consultation.dce_versions.get().files.get()

    response = client.get(reverse("marches:file_download", args=[consultation.pk, dce_file.pk]))
    assert response.streaming
    chunks = list(response.streaming_content)
    assert len(chunks) > 1
    assert b"".join(chunks) == big

    response = client.get(_zip_url(consultation))
    assert isinstance(response, StreamingHttpResponse)
    chunks = list(response.streaming_content)
    # Built chunk by chunk, never as one block in memory.
    assert max(len(chunk) for chunk in chunks) <= dce_zip.CHUNK_SIZE
    assert len(chunks) >= len(big) // dce_zip.CHUNK_SIZE
    body = b"".join(chunks)
    assert int(response["Content-Length"]) == len(body)
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.read("GROS/plans/maquette.ifc") == big


def test_empty_published_version_is_an_empty_zip(client):
    consultation = ConsultationFactory(published=True, dce={})
    body = _body(client.get(_zip_url(consultation)))
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.namelist() == []
