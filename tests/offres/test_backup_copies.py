"""Backup copies (copies de sauvegarde): buyer staff register their arrival, late ones are
flagged, bad input is refused in French and loses nothing, every registration is journaled,
and nobody else reaches the page."""

import hashlib
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from config.errors import ApplicationError
from marches.models import Consultation
from offres import backups, deposits
from offres.models import BackupCopy
from preuves.models import JournalEntry
from tests.factories import ConsultationFactory, MembershipFactory, OrganisationFactory
from tests.helpers import login_as, text

PARIS = ZoneInfo("Europe/Paris")
DIGEST = hashlib.sha256(b"copie de sauvegarde").hexdigest()


def url(consultation) -> str:
    return reverse("offres:backup_copies", args=[consultation.pk])


def typed(moment) -> dict:
    local = timezone.localtime(moment, PARIS)
    return {"arrival_date": f"{local:%Y-%m-%d}", "arrival_time": f"{local:%H:%M}"}


def form_data(**overrides) -> dict:
    data = {
        "company_name": "Durand Bâtiment SARL",
        "company_identifier": "",
        **typed(timezone.now()),
        "medium": "usb",
        "medium_detail": "",
        "sha256": "",
        "note": "",
    }
    data.update(overrides)
    return data


def past_deadline(consultation, *, deadline):
    """The deadline has passed (published ten days before it)."""
    Consultation.objects.filter(pk=consultation.pk).update(
        deadline=deadline, published_at=deadline - timedelta(days=10)
    )
    consultation.refresh_from_db()
    return consultation


def register(consultation, user, **overrides):
    fields = {
        "company_name": "Durand Bâtiment SARL",
        "company_identifier": "",
        "arrived_at": timezone.now(),
        "medium": "usb",
        "medium_detail": "",
        "sha256": "",
        "note": "",
        **overrides,
    }
    return backups.backup_copy_register(consultation=consultation, user=user, **fields)


@pytest.fixture
def staff(client, buyer_agent):
    login_as(client, buyer_agent.user)
    return buyer_agent.user


# --- The service ------------------------------------------------------------------------------


def test_a_copy_in_time_is_registered_and_journaled(published, buyer_agent):
    consultation, _ = published
    copy = register(consultation, buyer_agent.user, sha256=DIGEST, medium="optical")
    assert copy.late is False
    assert copy.registered_by == buyer_agent.user
    entry = JournalEntry.objects.get(action="backup_copy.registered")
    assert entry.target_type == "offres.backupcopy"
    assert entry.target_id == str(copy.pk)
    assert entry.actor_id == buyer_agent.user.pk
    assert entry.organisation_id == consultation.buyer_id
    assert entry.payload == {
        "consultation": consultation.pk,
        "company_name": copy.company_name,
        "company_identifier": copy.company_identifier,
        "company": None,
        "arrived_at": copy.arrived_at.isoformat(),
        "late": False,
        "medium": "optical",
        "medium_detail": "",
        "sha256": DIGEST,
    }


@pytest.mark.parametrize(("offset", "late"), [(-60, False), (0, True), (60, True)])
def test_late_iff_arrived_at_or_after_the_deadline(published, buyer_agent, offset, late):
    consultation, _ = published
    deadline = (timezone.now() - timedelta(days=1)).replace(second=0, microsecond=0)
    consultation = past_deadline(consultation, deadline=deadline)
    copy = register(consultation, buyer_agent.user, arrived_at=deadline + timedelta(seconds=offset))
    assert copy.late is late
    assert JournalEntry.objects.get(action="backup_copy.registered").payload["late"] is late


def test_nothing_is_registered_for_a_draft(buyer_agent):
    draft = ConsultationFactory(buyer=buyer_agent.organisation)
    with pytest.raises(ApplicationError, match="n'est pas publiée"):
        register(draft, buyer_agent.user)
    assert not BackupCopy.objects.exists()


def test_an_arrival_before_the_publication_is_refused(published, buyer_agent):
    consultation, _ = published
    with pytest.raises(ApplicationError, match="précéder la publication"):
        register(consultation, buyer_agent.user, arrived_at=timezone.now() - timedelta(days=1))
    assert not BackupCopy.objects.exists()


def test_the_identifier_links_a_registered_company(published, buyer_agent):
    consultation, _ = published
    company = OrganisationFactory()
    spaced = f"{company.siret[:3]} {company.siret[3:6]} {company.siret[6:9]} {company.siret[9:]}"
    copy = register(consultation, buyer_agent.user, company_identifier=spaced)
    assert copy.company == company
    assert copy.company_identifier == company.siret
    unknown = register(consultation, buyer_agent.user, company_identifier="DE136695976")
    assert unknown.company is None


def test_staff_of_another_buyer_cannot_register_through_the_service(published):
    consultation, _ = published
    other = MembershipFactory(buyer_agent=True).user
    with pytest.raises(ApplicationError) as exc:
        register(consultation, other)
    assert exc.value.status == 403
    assert not BackupCopy.objects.exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sha256", DIGEST.upper()),
        ("sha256", DIGEST[:63]),
        ("company_name", ""),
        ("medium", "floppy"),
        ("arrived_at", timedelta(hours=1)),  # after its registration
    ],
)
def test_the_database_refuses_what_must_never_be_stored(published, buyer_agent, field, value):
    consultation, _ = published
    now = timezone.now()
    valid = {
        "consultation": consultation,
        "company_name": "Durand Bâtiment SARL",
        "arrived_at": now,
        "medium": "usb",
        "sha256": DIGEST,
        "registered_by": buyer_agent.user,
        "registered_at": now,
    }
    BackupCopy.objects.create(**valid)
    broken = {**valid, field: now + value if isinstance(value, timedelta) else value}
    with pytest.raises(IntegrityError), transaction.atomic():
        BackupCopy.objects.create(**broken)


# --- The page ---------------------------------------------------------------------------------


def test_registration_redirects_and_the_page_shows_the_late_badge(client, published, staff):
    consultation, _ = published
    consultation = past_deadline(consultation, deadline=timezone.now() - timedelta(hours=1))
    response = client.post(url(consultation), form_data(sha256=DIGEST, medium="paper"))
    assert response.status_code == 302
    assert response["Location"] == url(consultation)
    copy = BackupCopy.objects.get()
    assert copy.late is True
    assert copy.company_name == "Durand Bâtiment SARL"
    page = text(client.get(url(consultation)))
    assert "La copie de sauvegarde de « Durand Bâtiment SARL »" in page
    assert "elle est marquée hors délai" in page
    assert "Hors délai" in page
    assert DIGEST in page
    assert "Support papier" in page
    assert JournalEntry.objects.filter(action="backup_copy.registered", target_id=str(copy.pk)).exists()


def test_a_copy_in_time_has_no_late_badge(client, published, staff):
    consultation, _ = published
    assert client.post(url(consultation), form_data()).status_code == 302
    page = text(client.get(url(consultation)))
    assert "Dans le délai" in page
    assert "Hors délai" not in page


def test_a_future_arrival_is_refused_and_nothing_is_lost(client, published, staff):
    consultation, _ = published
    tomorrow = typed(timezone.now() + timedelta(days=1))
    response = client.post(url(consultation), form_data(**tomorrow, note="Scellé intact"))
    assert response.status_code == 400
    page = text(response)
    assert "La date d'arrivée ne peut pas être dans le futur." in page
    assert 'value="Durand Bâtiment SARL"' in page
    assert "Scellé intact" in page
    assert not BackupCopy.objects.exists()
    assert not JournalEntry.objects.filter(action="backup_copy.registered").exists()


@pytest.mark.parametrize("digest", ["abc123", DIGEST[:-1] + "g", DIGEST + "00"])
def test_a_bad_digest_is_refused_in_french(client, published, staff, digest):
    consultation, _ = published
    response = client.post(url(consultation), form_data(sha256=digest))
    assert response.status_code == 400
    page = text(response)
    assert "L'empreinte SHA-256 doit comporter exactement 64 caractères hexadécimaux" in page
    assert f'value="{digest}"' in page
    assert not BackupCopy.objects.exists()
    assert not JournalEntry.objects.filter(action="backup_copy.registered").exists()


def test_a_digest_typed_in_groups_and_capitals_is_stored_as_lowercase_hex(client, published, staff):
    consultation, _ = published
    grouped = " ".join(DIGEST.upper()[i : i + 8] for i in range(0, 64, 8))
    assert client.post(url(consultation), form_data(sha256=grouped)).status_code == 302
    assert BackupCopy.objects.get().sha256 == DIGEST


def test_another_medium_must_be_described(client, published, staff):
    consultation, _ = published
    response = client.post(url(consultation), form_data(medium="other"))
    assert response.status_code == 400
    assert "Précisez le support de la copie de sauvegarde." in text(response)
    assert not BackupCopy.objects.exists()
    described = form_data(medium="other", medium_detail="carte SD")
    assert client.post(url(consultation), described).status_code == 302
    assert BackupCopy.objects.get().medium_detail == "carte SD"


def test_a_company_that_deposited_can_be_chosen(client, published, staff):
    consultation, _ = published
    company = MembershipFactory(company_admin=True)
    deposits.deposit_open(consultation=consultation, company=company.organisation, user=company.user, lots=[])
    page = text(client.get(url(consultation)))
    assert company.organisation.name in page
    response = client.post(url(consultation), form_data(company=company.organisation.pk))
    assert response.status_code == 302
    assert BackupCopy.objects.get().company == company.organisation


def test_the_tab_follows_the_deposit_register(client, published, staff):
    consultation, _ = published
    page = text(client.get(reverse("offres:deposit_register", args=[consultation.pk])))
    assert page.index("Registre des dépôts") < page.index("Copies de sauvegarde")
    assert url(consultation) in page


def test_page_query_count(client, published, staff, django_assert_max_num_queries):
    consultation, _ = published
    for _ in range(5):
        register(consultation, staff, sha256=DIGEST)
    with django_assert_max_num_queries(14):
        response = client.get(url(consultation))
    assert response.status_code == 200
    assert text(response).count(DIGEST) == 5


# --- Who may reach it -------------------------------------------------------------------------


def test_staff_of_another_buyer_get_404(client, published):
    consultation, _ = published
    other = MembershipFactory(buyer_agent=True, user__totp=True)
    login_as(client, other.user)
    assert client.get(url(consultation)).status_code == 404
    assert client.post(url(consultation), form_data()).status_code == 404
    assert not BackupCopy.objects.exists()


def test_a_company_user_is_refused(client, published, company_admin):
    consultation, _ = published
    login_as(client, company_admin.user)
    assert client.get(url(consultation)).status_code == 403
    assert client.post(url(consultation), form_data()).status_code == 403
    assert not BackupCopy.objects.exists()


def test_anonymous_is_sent_to_login(client, published):
    consultation, _ = published
    for response in (client.get(url(consultation)), client.post(url(consultation), form_data())):
        assert response.status_code == 302
        assert response["Location"].startswith(reverse(settings.LOGIN_URL))
    assert not BackupCopy.objects.exists()
