"""The DCE manager of the buyer's back office and the avis rectificatif: uploads (several files,
zips with their tree), refusals that import nothing (unsafe paths, infected files), removal,
the version prepared after publication, and the e-mails an amendment sends."""

import hashlib
import io
import re
import zipfile
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from marches.models import Consultation, DceDownload, DceFile, DceVersion
from preuves.models import JournalEntry

from ..factories import ConsultationFactory
from ..helpers import login_as, text

pytestmark = pytest.mark.django_db

# Built from two halves, so that no file of the repository is itself the EICAR test file.
EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


@pytest.fixture
def agent(client, buyer_agent):
    login_as(client, buyer_agent.user)
    return buyer_agent


@pytest.fixture
def draft(agent):
    """A draft with an empty working version 1."""
    return ConsultationFactory(buyer=agent.organisation, created_by=agent.user, dce={})


@pytest.fixture
def published(agent):
    """Published two days ago; version 1 holds RC.pdf."""
    return ConsultationFactory(buyer=agent.organisation, created_by=agent.user, published=True)


def _url(name, consultation, *args):
    return reverse(f"marches:{name}", args=[consultation.pk, *args])


def _words(response) -> str:
    """The page's text without tags, whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", text(response)).split())


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, content in entries.items():
            zf.writestr(name, content)
    return buffer.getvalue()


def _upload(client, consultation, *files, folder=""):
    return client.post(
        _url("buyer_dce", consultation),
        {
            "action": "upload",
            "files": [SimpleUploadedFile(name, content) for name, content in files],
            "folder": folder,
        },
    )


def _paths(consultation, number=None):
    versions = consultation.dce_versions.all()
    version = versions.get(number=number) if number else versions.get(published_at__isnull=True)
    return sorted(version.files.values_list("path", flat=True))


# --- Upload ---------------------------------------------------------------------------------------


def test_upload_two_files(client, agent, draft):
    response = _upload(client, draft, ("RC.pdf", b"%PDF rc"), ("CCAP.pdf", b"%PDF ccap"))
    assert response.status_code == 302
    assert _paths(draft) == ["CCAP.pdf", "RC.pdf"]
    rc = DceFile.objects.get(path="RC.pdf")
    assert rc.sha256 == hashlib.sha256(b"%PDF rc").hexdigest()
    assert rc.size == 7
    assert rc.uploaded_by == agent.user
    assert JournalEntry.objects.get(action="dce.files_added").payload["version"] == 1
    page = text(client.get(_url("buyer_dce", draft)))
    assert rc.sha256 in page
    assert "7 octets" in page
    assert "Non analysé" in page  # no antivirus in this test: said honestly
    assert reverse("marches:buyer_dce_remove", args=[draft.pk, rc.pk]) in page


def test_upload_page_explains_multiple_files_and_zips(client, agent, draft):
    page = text(client.get(_url("buyer_dce", draft)))
    assert 'type="file"' in page
    assert "multiple" in page
    assert 'enctype="multipart/form-data"' in page
    assert "Une archive .zip est décompressée et son arborescence conservée" in page


def test_upload_zip_keeps_its_tree_under_the_chosen_folder(client, agent, draft):
    archive = _zip({"RC.pdf": b"rc", "Pieces techniques/Plans/plan-1.pdf": b"plan", "CCTP.pdf": b"cctp"})
    response = _upload(client, draft, ("DCE.zip", archive), ("Lettre.pdf", b"lettre"), folder="Dossier 2026")
    assert response.status_code == 302
    assert _paths(draft) == [
        "Dossier 2026/CCTP.pdf",
        "Dossier 2026/Lettre.pdf",
        "Dossier 2026/Pieces techniques/Plans/plan-1.pdf",
        "Dossier 2026/RC.pdf",
    ]


def test_upload_without_file_is_a_french_error(client, agent, draft):
    response = client.post(_url("buyer_dce", draft), {"action": "upload"})
    assert response.status_code == 400
    assert "Choisissez au moins un fichier." in text(response)


def test_zip_climbing_out_of_the_tree_is_refused_and_nothing_saved(client, agent, draft):
    archive = _zip({"RC.pdf": b"rc", "../evil.sh": b"rm -rf /"})
    response = _upload(client, draft, ("DCE.zip", archive), ("Lettre.pdf", b"lettre"))
    assert response.status_code == 400
    page = text(response)
    assert "L'archive contient un chemin dangereux : « ../evil.sh » (il remonte dans l'arborescence" in page
    assert "Aucun document n'a été importé" in page
    assert not DceFile.objects.exists()
    assert not JournalEntry.objects.filter(action="dce.files_added").exists()


def test_unsafe_folder_is_refused(client, agent, draft):
    response = _upload(client, draft, ("RC.pdf", b"rc"), folder="../../etc")
    assert response.status_code == 400
    assert "il remonte dans l'arborescence" in text(response)
    assert not DceFile.objects.exists()


def test_infected_upload_is_refused_named_and_journaled(client, agent, draft, clamav):
    response = _upload(client, draft, ("CCAP.pdf", b"%PDF clean"), ("Annexe.com", EICAR))
    assert response.status_code == 400
    page = text(response)
    assert "Fichier infecté refusé : « Annexe.com »" in page
    assert "Aucun fichier de cet envoi n'a été importé" in page
    assert not DceFile.objects.exists()
    entry = JournalEntry.objects.get(action="dce.infected_refused")
    assert entry.actor_id == agent.user_id
    assert [f["path"] for f in entry.payload["files"]] == ["Annexe.com"]
    # The clean file alone goes through, and says it was scanned.
    assert _upload(client, draft, ("CCAP.pdf", b"%PDF clean")).status_code == 302
    assert DceFile.objects.get().scan_status == "clean"
    assert "Analysé, sain" in text(client.get(_url("buyer_dce", draft)))


def test_infected_file_inside_a_zip_is_refused(client, agent, draft, clamav):
    archive = _zip({"RC.pdf": b"rc", "annexes/outil.com": EICAR})
    response = _upload(client, draft, ("DCE.zip", archive))
    assert "« annexes/outil.com »" in text(response)
    assert not DceFile.objects.exists()


# --- Removal --------------------------------------------------------------------------------------


def test_remove_a_file_of_the_working_version(client, agent, draft):
    _upload(client, draft, ("RC.pdf", b"rc"), ("CCAP.pdf", b"ccap"))
    ccap = DceFile.objects.get(path="CCAP.pdf")
    response = client.post(_url("buyer_dce_remove", draft, ccap.pk), follow=True)
    assert "« CCAP.pdf » est retiré de la version 1 du DCE." in text(response)
    assert _paths(draft) == ["RC.pdf"]
    assert JournalEntry.objects.get(action="dce.file_removed").payload["path"] == "CCAP.pdf"


def test_remove_is_post_only(client, agent, draft):
    _upload(client, draft, ("RC.pdf", b"rc"))
    assert client.get(_url("buyer_dce_remove", draft, DceFile.objects.get().pk)).status_code == 405
    assert DceFile.objects.exists()


def test_a_published_version_does_not_change(client, agent, published):
    rc = DceFile.objects.get(version__consultation=published)
    response = client.post(_url("buyer_dce_remove", published, rc.pk), follow=True)
    assert "Une version publiée du DCE ne change plus" in text(response)
    assert DceFile.objects.filter(pk=rc.pk).exists()


def test_file_of_another_buyer_is_a_404_and_journaled(client, agent, draft):
    other = ConsultationFactory()
    foreign = DceFile.objects.get(version__consultation=other)
    response = client.post(_url("buyer_dce_remove", draft, foreign.pk))
    assert response.status_code == 404
    assert JournalEntry.objects.get(action="access.denied").payload["lookup"] == {"pk": str(foreign.pk)}
    assert DceFile.objects.filter(pk=foreign.pk).exists()
    # And through the other buyer's consultation id.
    response = client.post(_url("buyer_dce_remove", other, foreign.pk))
    assert response.status_code == 404
    assert _upload(client, other, ("RC.pdf", b"x")).status_code == 404
    assert JournalEntry.objects.filter(action="access.denied").count() == 3


# --- After publication: version n+1 ---------------------------------------------------------------


def test_published_dce_page_offers_version_2(client, agent, published):
    page = text(client.get(_url("buyer_dce", published)))
    assert "Version 1 publiée" in page
    assert "Préparer la version 2" in page
    assert "Retirer" not in page  # the published version has no remove button
    response = client.post(_url("buyer_dce", published), {"action": "new_version"}, follow=True)
    assert "La version 2 du DCE est en préparation." in text(response)
    assert _paths(published) == ["RC.pdf"]  # a copy of version 1
    page = text(client.get(_url("buyer_dce", published)))
    assert "Version 2 en préparation" in page
    assert "avis rectificatif" in page
    assert reverse("marches:buyer_amend", args=[published.pk]) in page


def test_upload_after_publication_prepares_version_2(client, agent, published):
    response = _upload(client, published, ("CCTP.pdf", b"cctp"))
    assert response.status_code == 302
    assert _paths(published) == ["CCTP.pdf", "RC.pdf"]
    assert _paths(published, 1) == ["RC.pdf"]
    assert published.dce_versions.get(number=2).published_at is None


def test_dce_of_a_closed_consultation_is_frozen(client, agent):
    closed = ConsultationFactory(buyer=agent.organisation, closed=True)
    page = text(client.get(_url("buyer_dce", closed)))
    assert "le DCE ne change plus" in page
    assert 'type="file"' not in page
    response = _upload(client, closed, ("CCTP.pdf", b"cctp"))
    assert "la date limite de remise des plis est passée" in text(response)
    assert closed.dce_versions.count() == 1


# --- Avis rectificatif ----------------------------------------------------------------------------


def _amend_data(consultation, **overrides):
    local = timezone.localtime(consultation.deadline)
    data = {
        "note": "Nouveau CCTP (article 4.2).",
        "deadline_date": local.date().isoformat(),
        "deadline_time": local.strftime("%H:%M"),
        "questions_deadline_date": "",
        "questions_deadline_time": "",
        "description": consultation.description,
        "contact_name": consultation.contact_name,
        "contact_email": consultation.contact_email,
        "contact_phone": consultation.contact_phone,
    }
    data.update(overrides)
    return data


def test_amend_without_a_new_dce_version_is_refused(client, agent, published):
    page = text(client.get(_url("buyer_amend", published)))
    assert "Aucune nouvelle version du DCE en préparation" in page
    response = client.post(_url("buyer_amend", published), _amend_data(published))
    assert response.status_code == 409
    assert "Un avis rectificatif s'accompagne d'une nouvelle version du DCE" in text(response)
    # A version 2 identical to version 1 is no new version either.
    client.post(_url("buyer_dce", published), {"action": "new_version"})
    response = client.post(_url("buyer_amend", published), _amend_data(published))
    assert "Un avis rectificatif s'accompagne d'une nouvelle version du DCE" in text(response)
    assert not published.dce_versions.filter(number=2, published_at__isnull=False).exists()
    assert not JournalEntry.objects.filter(action="consultation.amended").exists()


def test_amend_needs_a_note(client, agent, published):
    _upload(client, published, ("CCTP.pdf", b"cctp"))
    response = client.post(_url("buyer_amend", published), _amend_data(published, note=""))
    assert response.status_code == 400
    assert "Décrivez les modifications apportées par l'avis rectificatif." in text(response)
    assert published.dce_versions.get(number=2).published_at is None


def test_amend_with_a_new_file_publishes_version_2_and_mails_the_register(
    client, agent, published, django_capture_on_commit_callbacks, mailoutbox
):
    v1 = published.dce_versions.get(number=1)
    for email in ["jeanne@durand.fr", "paul@martin.fr", "jeanne@durand.fr"]:
        DceDownload.objects.create(consultation=published, version=v1, email=email, name="X")
    _upload(client, published, ("RC.pdf", b"rc v2"), ("CCTP.pdf", b"cctp"))
    page = _words(client.get(_url("buyer_amend", published)))
    assert "ajouté CCTP.pdf" in page
    assert "modifié RC.pdf" in page
    assert "2 adresses inscrites au registre des retraits recevront un e-mail" in page
    new_deadline = timezone.localtime(published.deadline + timedelta(days=7))
    data = _amend_data(
        published, deadline_date=new_deadline.date().isoformat(), deadline_time=new_deadline.strftime("%H:%M")
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_url("buyer_amend", published), data, follow=True)
    assert "L'avis rectificatif est publié" in text(response)
    v2 = DceVersion.objects.get(consultation=published, number=2)
    assert v2.published_at is not None
    assert v2.note == "Nouveau CCTP (article 4.2)."
    published.refresh_from_db()
    assert published.deadline == new_deadline.replace(second=0, microsecond=0)
    entry = JournalEntry.objects.get(action="consultation.amended")
    assert set(entry.payload["changed"]) == {"deadline"}  # only what changed is passed
    assert sorted(m.to[0] for m in mailoutbox) == ["jeanne@durand.fr", "paul@martin.fr"]
    assert "Nouvelle version du DCE (version 2)" in mailoutbox[0].subject


def test_amend_of_a_draft_or_closed_consultation_redirects(client, agent, draft):
    response = client.get(_url("buyer_amend", draft))
    assert response.url == _url("buyer_edit", draft)
    closed = ConsultationFactory(buyer=agent.organisation, closed=True)
    response = client.get(_url("buyer_amend", closed), follow=True)
    assert "Seule une consultation en cours" in text(response)
    assert Consultation.objects.get(pk=closed.pk).state == "published"
