"""« Conforme » only for files an antivirus analysed. A DCE file imported without clamd is a
blocking item of the publication check until the buyer's staff who may publish accept it,
with a reason; the acceptance is journaled, shown, and covers only the files it names."""

import io

import pytest
from django.urls import reverse

from config.errors import ApplicationError
from marches import checks, services
from marches.models import Consultation, DceFile, DceUnscannedAcceptance
from preuves import journal
from preuves.models import JournalEntry
from tests.factories import MembershipFactory
from tests.helpers import login_as, text

from .test_services import EICAR, _fields

pytestmark = pytest.mark.django_db

REASON = "Documents produits par nos services, vérifiés par l'antivirus du poste de travail."


@pytest.fixture
def draft(buyer_agent):
    """A draft with everything but the antivirus: commission ready, the EICAR test file in
    the DCE imported without clamd."""
    agent, buyer = buyer_agent.user, buyer_agent.organisation
    consultation = services.consultation_create(buyer=buyer, created_by=agent, **_fields())
    members = [
        MembershipFactory(
            organisation=buyer, role="commission_member", user__totp=True, user__ceremony=True
        ).user
        for _ in range(3)
    ]
    services.commission_set(
        consultation=consultation, updated_by=agent, members=members, president=members[0], quorum=2
    )
    services.dce_add_files(
        consultation=consultation,
        added_by=agent,
        uploads=[("RC.pdf", io.BytesIO(b"%PDF rc")), ("eicar.com", io.BytesIO(EICAR))],
    )
    return consultation


def scan_check(consultation):
    return {c.code: c for c in checks.publication_report(consultation).checks}["dce_scan"]


def test_an_unscanned_file_is_not_conforme_and_blocks(draft, buyer_agent):
    assert DceFile.objects.get(path="eicar.com").scan_status == DceFile.ScanStatus.NOT_SCANNED
    check = scan_check(draft)
    assert check.level == checks.ERROR
    assert "eicar.com" in check.message
    assert "RC.pdf" in check.message
    with pytest.raises(ApplicationError) as refused:
        services.consultation_publish(consultation=draft, published_by=buyer_agent.user)
    assert "dce_scan" in refused.value.details
    draft.refresh_from_db()
    assert draft.state == Consultation.State.DRAFT


def test_the_publish_page_shows_it_blocking(client, draft, buyer_agent):
    login_as(client, buyer_agent.user)
    page = text(client.get(reverse("marches:buyer_publish", args=[draft.pk])))
    section = page[page.index("check-dce_scan") :]
    assert "Analyse antivirus du DCE" in section
    assert "Bloquant" in section[: section.index("</div>")]
    assert "Accepter de publier ces documents sans analyse" in page
    assert "disabled" in page


def test_accepting_with_a_reason_is_journaled_shown_and_publishes(client, draft, buyer_agent):
    login_as(client, buyer_agent.user)
    url = reverse("marches:buyer_dce_accept_unscanned", args=[draft.pk])
    response = client.post(url, {"reason": REASON}, follow=True)
    assert "Publication sans analyse antivirus acceptée pour 2 document(s)" in text(response)
    entry = JournalEntry.objects.get(action="dce.unscanned_accepted")
    assert entry.actor_id == buyer_agent.user.pk
    assert entry.payload["reason"] == REASON
    assert {f["path"] for f in entry.payload["files"]} == {"RC.pdf", "eicar.com"}
    # Shown, as a point to check, not as « Conforme ».
    page = text(client.get(reverse("marches:buyer_publish", args=[draft.pk])))
    assert REASON in page
    assert "publiés sans analyse antivirus, accepté par" in page
    check = scan_check(draft)
    assert check.level == checks.WARNING
    response = client.post(reverse("marches:buyer_publish", args=[draft.pk]), follow=True)
    assert "La consultation est publiée" in text(response)
    draft.refresh_from_db()
    assert draft.state == Consultation.State.PUBLISHED
    published = JournalEntry.objects.get(action="consultation.published")
    assert published.payload["rules"]["dce_scan"]["level"] == "warning"
    assert REASON in published.payload["rules"]["dce_scan"]["message"]
    assert journal.verify().ok


def test_a_reason_is_required(client, draft, buyer_agent):
    login_as(client, buyer_agent.user)
    url = reverse("marches:buyer_dce_accept_unscanned", args=[draft.pk])
    response = client.post(url, {"reason": "   "}, follow=True)
    assert "Indiquez pourquoi vous acceptez de publier ces documents sans analyse" in text(response)
    assert not DceUnscannedAcceptance.objects.exists()
    with pytest.raises(ApplicationError, match="Indiquez pourquoi"):
        services.dce_unscanned_accept(consultation=draft, accepted_by=buyer_agent.user, reason=" ")


def test_a_file_imported_after_the_acceptance_blocks_again(draft, buyer_agent):
    services.dce_unscanned_accept(consultation=draft, accepted_by=buyer_agent.user, reason=REASON)
    assert scan_check(draft).level == checks.WARNING
    services.dce_add_files(
        consultation=draft, added_by=buyer_agent.user, uploads=[("RC.pdf", io.BytesIO(b"%PDF autre rc"))]
    )
    check = scan_check(draft)
    assert check.level == checks.ERROR
    assert "RC.pdf" in check.message
    assert "eicar.com" not in check.message


def test_a_commission_member_may_not_accept(client, draft):
    member = MembershipFactory(organisation=draft.buyer, role="commission_member", user__totp=True).user
    with pytest.raises(ApplicationError) as refused:
        services.dce_unscanned_accept(consultation=draft, accepted_by=member, reason=REASON)
    assert refused.value.status == 403
    login_as(client, member)
    url = reverse("marches:buyer_dce_accept_unscanned", args=[draft.pk])
    response = client.post(url, {"reason": REASON})
    assert response.status_code == 403
    assert not DceUnscannedAcceptance.objects.exists()
    assert not JournalEntry.objects.filter(action="dce.unscanned_accepted").exists()


def test_another_buyers_agent_may_not_accept(client, draft):
    other = MembershipFactory(buyer_agent=True, user__totp=True).user
    with pytest.raises(ApplicationError) as refused:
        services.dce_unscanned_accept(consultation=draft, accepted_by=other, reason=REASON)
    assert refused.value.status == 403
    login_as(client, other)
    url = reverse("marches:buyer_dce_accept_unscanned", args=[draft.pk])
    response = client.post(url, {"reason": REASON})
    assert response.status_code == 404
    assert not DceUnscannedAcceptance.objects.exists()


def test_nothing_to_accept_when_every_file_was_scanned(draft, buyer_agent):
    DceFile.objects.update(scan_status=DceFile.ScanStatus.CLEAN)
    assert scan_check(draft).level == checks.OK
    with pytest.raises(ApplicationError) as refused:
        services.dce_unscanned_accept(consultation=draft, accepted_by=buyer_agent.user, reason=REASON)
    assert refused.value.code == "nothing_unscanned"


def test_with_clamd_the_check_says_every_file_was_scanned(buyer_agent, clamav):
    consultation = services.consultation_create(
        buyer=buyer_agent.organisation, created_by=buyer_agent.user, **_fields()
    )
    services.dce_add_files(
        consultation=consultation, added_by=buyer_agent.user, uploads=[("RC.pdf", io.BytesIO(b"%PDF rc"))]
    )
    check = scan_check(consultation)
    assert check.level == checks.OK
    assert "analysé par l'antivirus" in check.message


def test_the_acceptance_stays_shown_on_the_dce_page_after_publication(client, draft, buyer_agent):
    services.dce_unscanned_accept(consultation=draft, accepted_by=buyer_agent.user, reason=REASON)
    services.consultation_publish(consultation=draft, published_by=buyer_agent.user)
    login_as(client, buyer_agent.user)
    page = text(client.get(reverse("marches:buyer_dce", args=[draft.pk])))
    assert "Publication sans analyse antivirus acceptée par" in page
    assert f"pour 2 documents : « {REASON} »" in " ".join(page.split())
