"""The Content-Security-Policy in Chromium: pages no other browser test visits (the API's
Swagger UI, the admin, « Vérifier le code de chiffrement ») run without a single breach; the
harness does catch a breach (an injected inline script); and the deposit page refuses an
encryption bundle whose bytes are not those of its published digest (Subresource Integrity)."""

import pytest
from django.conf import settings
from django.urls import reverse
from playwright.sync_api import expect

from marches import services
from offres.bundle import bundle_digest
from tests.factories import PASSWORD, MembershipFactory, UserFactory
from tests.marches.test_services import publishable

from .helpers import check_page, totp_now

pytestmark = pytest.mark.django_db(transaction=True)


def test_swagger_ui_runs_under_the_policy(page):
    page.goto("/api/docs/")
    # Drawn by the sidecar's scripts from the schema fetched on 'self'.
    expect(page.locator(".swagger-ui .opblock").first).to_be_visible(timeout=30_000)


def test_the_admin_and_the_digest_page_run_under_the_policy(page):
    staff = UserFactory(staff=True, totp=True)
    page.goto("/comptes/connexion/")
    page.locator("#id_username").fill(staff.email)
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter", exact=True).click()
    code, _ = totp_now(staff.totp_device.secret)
    page.locator("#id_code").fill(code)
    page.get_by_role("button", name="Valider").click()
    expect(page).to_have_url(f"{page.base_url}/comptes/compte/")
    admin = "/" + settings.ADMIN_URL
    for path in ["", "comptes/organisation/", "comptes/organisation/add/", "comptes/user/"]:
        page.goto(admin + path)
        expect(page).to_have_url(page.base_url + admin + path)
        expect(page.locator("#site-name")).to_be_visible()
    page.goto(reverse("offres:encryption_code"))
    expect(page.locator("#empreinte-sha256")).to_have_text(bundle_digest().hex)
    check_page(page, "verifier-le-code-de-chiffrement")


def test_an_injected_inline_script_is_refused_and_reported(page):
    page.goto("/")
    with page.expect_console_message(lambda message: "Content Security Policy" in message.text):
        page.evaluate(
            """() => {
                const script = document.createElement("script");
                script.textContent = "window.injected = true;";
                document.body.append(script);
            }"""
        )
    assert page.evaluate("() => window.injected === undefined")
    assert any(v.get("blocked") == "inline" for v in page.csp_violations) or any(
        "inline script" in v.get("console", "") for v in page.csp_violations
    ), page.csp_violations
    page.csp_violations.clear()


def test_a_tampered_bundle_is_not_run_on_the_deposit_page(page, buyer_agent):
    consultation, _ = publishable(buyer_agent, reference="2026-SRI-1")
    consultation = services.consultation_publish(consultation=consultation, published_by=buyer_agent.user)
    company = MembershipFactory(company_admin=True).user

    def tampered(route):
        response = route.fetch()
        route.fulfill(response=response, body=response.body() + b"\n;window.exfiltrate = 1;")

    page.goto("/comptes/connexion/")
    page.locator("#id_username").fill(company.email)
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter", exact=True).click()
    expect(page).to_have_url(f"{page.base_url}/plis/mes-plis/")
    page.route("**/static/offres/build/chiffrement.js", tampered)
    with page.expect_console_message(lambda message: "integrity" in message.text):
        page.goto(reverse("offres:deposit_new", args=[consultation.pk]))
    assert page.evaluate("() => typeof window.MarchesChiffrement === 'undefined'")
    assert page.evaluate("() => window.exfiltrate === undefined")
    page.csp_violations.clear()
