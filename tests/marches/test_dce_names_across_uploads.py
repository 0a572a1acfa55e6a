"""The DCE's name rule holds across separate uploads of one working version, as it does within
one zip: no two elements that Windows or macOS would take for one (case, NFC/NFD), no file
beside a folder of the same name. A refusal stores nothing; the very same path still replaces."""

import hashlib
import io
import re
import zipfile

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from config.errors import ApplicationError
from marches import services, storage
from marches.models import DceFile
from preuves.models import JournalEntry

from ..factories import ConsultationFactory
from ..helpers import login_as, text

pytestmark = pytest.mark.django_db

NFC = "Pi\u00e8ces"  # « è » as one code point
NFD = "Pie\u0300ces"  # « e » followed by the combining grave accent


@pytest.fixture
def draft(buyer_agent):
    return ConsultationFactory(buyer=buyer_agent.organisation, created_by=buyer_agent.user, dce={})


def _add(consultation, agent, *files):
    return services.dce_add_files(
        consultation=consultation,
        added_by=agent.user,
        uploads=[(name, io.BytesIO(content)) for name, content in files],
    )


def _paths(consultation):
    return sorted(DceFile.objects.filter(version__consultation=consultation).values_list("path", flat=True))


def _refused(consultation, agent, name, content, expected):
    before = _paths(consultation)
    added = JournalEntry.objects.filter(action="dce.files_added").count()
    with pytest.raises(ApplicationError) as caught:
        _add(consultation, agent, (name, content))
    assert caught.value.message == expected
    assert caught.value.code == "duplicate_path"
    # Nothing stored: no row, no journal entry, no blob.
    assert _paths(consultation) == before
    assert JournalEntry.objects.filter(action="dce.files_added").count() == added
    assert not default_storage.exists(storage.blob_name(hashlib.sha256(content).hexdigest()))


def test_case_duplicate_across_uploads_is_refused(draft, buyer_agent):
    _add(draft, buyer_agent, ("x.pdf", b"first"))
    _refused(
        draft,
        buyer_agent,
        "X.PDF",
        b"second upload, other case",
        "Le DCE contiendrait deux éléments de même nom : « x.pdf » et « X.PDF » "
        "(majuscules et minuscules confondues). Aucun fichier n'a été importé.",
    )


def test_nfd_with_another_case_across_uploads_is_refused(draft, buyer_agent):
    _add(draft, buyer_agent, (f"{NFC}.pdf", b"nfc"))
    with pytest.raises(ApplicationError, match="majuscules et minuscules confondues"):
        _add(draft, buyer_agent, (f"{NFD.upper()}.PDF", b"nfd upper"))
    assert _paths(draft) == [f"{NFC}.pdf"]


def test_nfd_name_of_an_nfc_file_is_the_same_file_and_replaces_it(draft, buyer_agent):
    _add(draft, buyer_agent, (f"{NFC}.pdf", b"nfc"))
    _add(draft, buyer_agent, (f"{NFD}.pdf", b"nfd, same name"))
    (only,) = DceFile.objects.filter(version__consultation=draft)
    assert only.path == f"{NFC}.pdf"
    assert only.sha256 == hashlib.sha256(b"nfd, same name").hexdigest()


def test_exact_same_path_still_replaces(draft, buyer_agent):
    _add(draft, buyer_agent, ("x.pdf", b"v1"), ("X/y.pdf", b"y"))
    _add(draft, buyer_agent, ("x.pdf", b"v2"))
    assert _paths(draft) == ["X/y.pdf", "x.pdf"]


def test_file_after_a_folder_of_the_same_name_is_refused(draft, buyer_agent):
    _add(draft, buyer_agent, (f"{NFC}/écrites/x.pdf", b"in the folder"))
    _refused(
        draft,
        buyer_agent,
        f"{NFD}",
        b"a file named like the folder",
        f"Le DCE contiendrait un fichier et un dossier de même nom : « {NFC} ». "
        "Aucun fichier n'a été importé.",
    )


def test_folder_after_a_file_of_the_same_name_is_refused(draft, buyer_agent):
    _add(draft, buyer_agent, (NFC, b"a file"))
    _refused(
        draft,
        buyer_agent,
        f"{NFD.lower()}/écrites/x.pdf",
        b"a file under a folder named like the file",
        f"Le DCE contiendrait un fichier et un dossier de même nom : « {NFC} ». "
        "Aucun fichier n'a été importé.",
    )


def test_zip_against_an_earlier_upload_is_refused(draft, buyer_agent):
    _add(draft, buyer_agent, ("RC.pdf", b"rc"))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("rc.PDF", b"from the zip")
    with pytest.raises(ApplicationError, match=re.escape("« RC.pdf » et « rc.PDF »")):
        _add(draft, buyer_agent, ("DCE.zip", buffer.getvalue()))
    assert _paths(draft) == ["RC.pdf"]


def test_two_files_of_one_upload_differing_by_case_are_refused(draft, buyer_agent):
    with pytest.raises(ApplicationError) as caught:
        _add(draft, buyer_agent, ("a.pdf", b"a"), ("A.pdf", b"A"))
    assert caught.value.message.startswith(
        "L'envoi contient deux éléments de même nom : « a.pdf » et « A.pdf »"
    )
    assert _paths(draft) == []


def test_buyer_page_refuses_a_case_duplicate_of_an_earlier_upload(client, buyer_agent, draft):
    login_as(client, buyer_agent.user)
    url = reverse("marches:buyer_dce", args=[draft.pk])

    def upload(name, content, folder=""):
        return client.post(
            url, {"action": "upload", "files": [SimpleUploadedFile(name, content)], "folder": folder}
        )

    assert upload("x.pdf", b"first").status_code == 302
    response = upload("X.PDF", b"second")
    assert response.status_code == 400
    assert "« x.pdf » et « X.PDF » (majuscules et minuscules confondues)" in text(response)
    assert upload("y.pdf", b"tree", folder=f"{NFC}/écrites").status_code == 302
    response = upload(NFD, b"file named like the folder")
    assert response.status_code == 400
    assert f"un fichier et un dossier de même nom : « {NFC} »" in text(response)
    assert _paths(draft) == [f"{NFC}/écrites/y.pdf", "x.pdf"]


def test_windows_reserved_names_are_refused(draft, buyer_agent):
    for name in ("CON", "nul.pdf", "Dossier/com1.txt", "aux.tar.gz", "PRN."):
        with pytest.raises(ApplicationError, match="nom réservé par Windows"):
            _add(draft, buyer_agent, (name, b"x"))
    _add(draft, buyer_agent, ("CONTRAT.pdf", b"not reserved"), ("console.pdf", b"nor this"))
    assert _paths(draft) == ["CONTRAT.pdf", "console.pdf"]
