"""What a new user meets in the first minutes, in a real browser: the identifiers of the
registration form, the warning before a lock and the lock page's way out, a malformed code,
and a DCE nobody scanned that the buyer must accept before publishing."""

import io
import re

import pytest

from marches import services
from marches.models import Consultation
from preuves.models import JournalEntry
from tests.factories import PASSWORD, MembershipFactory, UserFactory
from tests.marches.test_services import EICAR, _fields

from .helpers import check_page, totp_now

expect = pytest.importorskip(
    "playwright.sync_api", reason="browser tests need the Python package playwright"
).expect


def _password_step(page, email: str, password: str) -> None:
    page.goto("/comptes/connexion/")
    page.locator("#id_username").fill(email)
    page.locator("#id_password").fill(password)
    page.get_by_role("button", name="Se connecter", exact=True).click()


def test_registration_says_which_identifier_is_required(page, transactional_db):
    page.goto("/comptes/inscription/")
    expect(page.locator("label[for=id_siret]")).to_contain_text(
        "SIRET — obligatoire pour une entreprise établie en France"
    )
    expect(page.get_by_text(re.compile("ptionnel"))).to_have_count(0)
    check_page(page, "register-identifiers")


def test_the_last_attempt_is_warned_and_the_lock_page_leads_out(page, transactional_db, settings):
    user = UserFactory()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _password_step(page, user.email, "mauvais mot de passe")
    expect(page.get_by_text("Attention : encore une tentative avant le verrouillage")).to_be_visible()
    check_page(page, "login-last-attempt")
    _password_step(page, user.email, "mauvais mot de passe")
    expect(page.get_by_role("heading", level=1)).to_have_text("Compte temporairement verrouillé")
    check_page(page, "locked")
    page.get_by_role("link", name="Choisir un nouveau mot de passe").click()
    expect(page).to_have_url(re.compile(r"/comptes/mot-de-passe/$"))


def test_a_malformed_code_is_said_so(page, transactional_db):
    user = UserFactory(totp=True)
    _password_step(page, user.email, PASSWORD)
    page.locator("#id_code").fill("12a4")
    page.get_by_role("button", name="Valider").click()
    expect(page.get_by_text("Ce code n'a pas le bon format")).to_be_visible()
    check_page(page, "login-code-malformed")
    user.totp_device.refresh_from_db()
    assert user.totp_device.failed_attempts == 0


def test_an_unscanned_dce_is_accepted_with_a_reason_then_published(page, transactional_db):
    agent = MembershipFactory(
        buyer_agent=True, user__totp=True, user__first_name="Alice", user__last_name="Agent"
    )
    buyer = agent.organisation
    consultation = services.consultation_create(buyer=buyer, created_by=agent.user, **_fields())
    members = [
        MembershipFactory(
            organisation=buyer, role="commission_member", user__totp=True, user__ceremony=True
        ).user
        for _ in range(3)
    ]
    services.commission_set(
        consultation=consultation, updated_by=agent.user, members=members, president=members[0], quorum=2
    )
    services.dce_add_files(
        consultation=consultation,
        added_by=agent.user,
        uploads=[("RC.pdf", io.BytesIO(b"%PDF rc")), ("eicar.com", io.BytesIO(EICAR))],
    )
    _password_step(page, agent.user.email, PASSWORD)
    page.locator("#id_code").fill(totp_now(agent.user.totp_device.secret)[0])
    page.get_by_role("button", name="Valider").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Mes consultations")

    page.goto(f"/consultations/acheteur/{consultation.pk}/publier/")
    scan = page.locator(".check-dce_scan")
    expect(scan).to_contain_text("Bloquant")
    expect(scan).to_contain_text("eicar.com")
    expect(page.get_by_role("button", name="Publier la consultation")).to_be_disabled()
    check_page(page, "publish-unscanned")

    reason = "Documents produits par nos services et vérifiés sur le poste de travail."
    page.locator("#id_reason").fill(reason)
    page.get_by_role("button", name="Accepter de publier ces documents sans analyse").click()
    expect(page.get_by_text("Publication sans analyse antivirus acceptée pour 2 document(s)")).to_be_visible()
    expect(scan).to_contain_text("À vérifier")
    expect(scan).to_contain_text("accepté par Alice Agent le")
    expect(scan).to_contain_text(reason)
    check_page(page, "publish-unscanned-accepted")

    page.get_by_role("button", name="Publier la consultation").click()
    expect(page.get_by_text("La consultation est publiée")).to_be_visible()
    consultation.refresh_from_db()
    assert consultation.state == Consultation.State.PUBLISHED
    assert JournalEntry.objects.get(action="dce.unscanned_accepted").payload["reason"] == reason
