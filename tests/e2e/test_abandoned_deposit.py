"""« Mes plis » and a deposit's page in a real browser, for a deposit abandoned through the
API: shown as « Abandonné », never as « Reçu », accessible (axe-core), with a screenshot."""

from __future__ import annotations

import pytest

from marches import services
from offres import deposits
from tests.factories import PASSWORD, MembershipFactory
from tests.marches.test_services import publishable
from tests.offres import builders

from .helpers import check_page

expect = pytest.importorskip(
    "playwright.sync_api",
    reason="browser tests need the Python package `playwright` and Debian's package `chromium`",
).expect


def test_an_abandoned_deposit_is_listed_as_abandoned(page, buyer_agent):
    consultation, _ = publishable(buyer_agent, reference="2026-ABA-1")
    consultation = services.consultation_publish(consultation=consultation, published_by=buyer_agent.user)
    user = MembershipFactory(company_admin=True, organisation__name="Menuiserie Durand SARL").user
    ciphertext = builders.encrypt_to(consultation, "offer", b"offre")
    builders.receive(consultation, user, [("offer", "offre.pdf.age", ciphertext)])
    abandoned = builders.uploaded(consultation, user, [("offer", "brouillon.pdf.age", ciphertext)])
    deposits.deposit_abandon(deposit=abandoned, user=user)

    page.goto("/comptes/connexion/")
    page.locator("#id_username").fill(user.email)
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter", exact=True).click()
    page.goto("/plis/mes-plis/")
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(2)
    expect(page.locator("tbody")).to_contain_text("Abandonné")
    expect(page.locator("tbody")).to_contain_text("ne compte pas")
    check_page(page, "deposit_list_abandoned")
    page.goto(f"/plis/{abandoned.public_id}/")
    expect(page.locator("main")).to_contain_text("Il a été abandonné le")
    check_page(page, "deposit_detail_abandoned")
