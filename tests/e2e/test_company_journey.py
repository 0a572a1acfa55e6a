"""A company in a real browser: registration, e-mail confirmation, login, TOTP enrolment,
recovery codes, logout, and login again with the second factor."""

import re
from urllib.parse import urlsplit

import pyotp
import pytest

from comptes import secrets
from comptes.models import RecoveryCode, User
from preuves.models import JournalEntry
from tests.factories import PASSWORD, MembershipFactory

from .helpers import check_page, totp_after, totp_now

expect = pytest.importorskip(
    "playwright.sync_api",
    reason="browser tests need the Python package `playwright` and Debian's package `chromium`",
).expect

EMAIL = "camille.durand@menuiserie-durand.fr"
NEW_PASSWORD = "Ouverture-des-plis-2025"
SIRET = "44030256000014"

ACCOUNT_URL = re.compile(r"/comptes/compte/$")
DEPOSITS_URL = re.compile(r"/plis/mes-plis/$")
LOGIN_URL = re.compile(r"/comptes/connexion/(\?.*)?$")
CODE_URL = re.compile(r"/comptes/connexion/code/$")
EMAIL_CONFIRMED = "Votre adresse e-mail est confirmée : vous pouvez vous connecter."
WRONG_CODE = "Code incorrect. Saisissez le code à 6 chiffres affiché par votre application."


def _login_password_step(page, email: str, password: str) -> None:
    page.locator("#id_username").fill(email)
    page.locator("#id_password").fill(password)
    page.get_by_role("button", name="Se connecter", exact=True).click()


def _journal(action: str, user: User) -> list[JournalEntry]:
    return list(JournalEntry.objects.filter(action=action, actor_id=user.pk).order_by("seq"))


def test_company_registers_enrols_totp_and_logs_back_in_with_a_code(page, mailoutbox):
    # Home page, then the registration form.
    page.goto("/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Marchés ouverts")
    check_page(page, "home")
    page.get_by_role("link", name="Inscrire mon entreprise").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Inscrire mon entreprise")
    check_page(page, "register")

    page.locator("#id_first_name").fill("Camille")
    page.locator("#id_last_name").fill("Durand")
    page.locator("#id_email").fill(EMAIL)
    page.locator("#id_password1").fill(NEW_PASSWORD)
    page.locator("#id_password2").fill(NEW_PASSWORD)
    page.locator("#id_organisation_name").fill("Menuiserie Durand SARL")
    expect(page.locator("#id_country")).to_have_value("FR")
    page.locator("#id_siret").fill(SIRET)
    page.get_by_role("button", name="Créer le compte").click()

    # "Confirm your e-mail address".
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirmez votre adresse e-mail")
    expect(page.get_by_text(f"Un lien de confirmation vient d'être envoyé à {EMAIL}")).to_be_visible()
    check_page(page, "register_done")

    # The verification e-mail (locmem backend, same process as the live server).
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == [EMAIL]
    assert "confirmez votre adresse e-mail" in message.subject
    link = re.search(r"https?://\S+/comptes/verification/\S+/", message.body)
    assert link, message.body
    page.goto(urlsplit(link.group(0)).path)

    # Confirmed: on to the login page.
    expect(page).to_have_url(LOGIN_URL)
    expect(page.get_by_text(EMAIL_CONFIRMED)).to_be_visible()
    check_page(page, "login")
    _login_password_step(page, EMAIL, NEW_PASSWORD)

    # Logged in without a second factor (optional for companies): its plis, then the account.
    expect(page).to_have_url(DEPOSITS_URL)
    expect(page.get_by_role("heading", level=1)).to_have_text("Mes plis")
    check_page(page, "landing_company")
    page.get_by_role("link", name="Mon compte").first.click()
    expect(page).to_have_url(ACCOUNT_URL)
    expect(page.get_by_role("heading", level=1)).to_have_text("Mon compte")
    expect(page.get_by_text("Non activée")).to_be_visible()
    expect(page.get_by_role("link", name="Menuiserie Durand SARL").first).to_be_visible()
    check_page(page, "account_without_2fa")

    # TOTP enrolment.
    page.get_by_role("link", name="Activer la double authentification").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Activer la double authentification")
    expect(page.get_by_role("img", name=re.compile("QR code"))).to_be_visible()
    check_page(page, "totp_enrol")
    secret = page.locator("#totp-secret").get_attribute("data-secret")
    assert secret
    assert re.fullmatch(r"[A-Z2-7]{32}", secret)
    code, used_step = totp_now(secret)
    page.locator("#id_code").fill(code)
    page.get_by_role("button", name="Activer", exact=True).click()

    # Recovery codes, shown once.
    expect(page.get_by_role("heading", level=1)).to_have_text("Codes de secours")
    expect(page.get_by_text("La double authentification est activée.")).to_be_visible()
    recovery_codes = page.locator("#recovery-codes li").all_inner_texts()
    assert len(recovery_codes) == 10
    assert all(re.fullmatch(r"[A-Z2-9]{4}(-[A-Z2-9]{4}){3}", c) for c in recovery_codes), recovery_codes
    check_page(page, "recovery_codes")
    page.get_by_role("link", name="J'ai conservé mes codes").click()

    expect(page).to_have_url(ACCOUNT_URL)
    expect(page.get_by_text("Activée", exact=True)).to_be_visible()
    expect(page.get_by_text("10 codes de secours restants")).to_be_visible()
    check_page(page, "account")

    # Log out (a POST form in the header).
    page.get_by_role("button", name="Se déconnecter").click()
    expect(page.get_by_text("Vous êtes déconnecté.")).to_be_visible()
    expect(page.get_by_role("link", name="Se connecter")).to_be_visible()
    check_page(page, "home_after_logout")

    # Log back in: password, then a fresh code (the enrolment one may not be replayed).
    page.get_by_role("link", name="Se connecter").click()
    expect(page).to_have_url(LOGIN_URL)
    _login_password_step(page, EMAIL, NEW_PASSWORD)
    expect(page).to_have_url(CODE_URL)
    expect(page.get_by_role("heading", level=1)).to_have_text("Code de vérification")
    expect(page.get_by_text(f"Compte {EMAIL}")).to_be_visible()
    check_page(page, "login_code")
    code, _ = totp_after(secret, used_step)
    page.locator("#id_code").fill(code)
    page.get_by_role("button", name="Valider").click()

    expect(page).to_have_url(DEPOSITS_URL)
    expect(page.get_by_role("heading", level=1)).to_have_text("Mes plis")
    expect(page.get_by_role("button", name="Se déconnecter")).to_be_visible()
    check_page(page, "deposits_after_2fa_login")

    # The journal saw it all, and the last login went through TOTP.
    user = User.objects.get(email=EMAIL)
    assert user.email_verified
    assert user.has_two_factor
    assert [e.payload["second_factor"] for e in _journal("auth.login", user)] == ["none", "totp"]
    for action in ("account.registered", "account.email_verified", "2fa.enrolled", "auth.logout"):
        assert len(_journal(action, user)) == 1, action


def test_wrong_code_at_the_code_step_is_refused_in_french(page):
    user = MembershipFactory(company_admin=True, user__totp=True).user
    page.goto("/comptes/connexion/")
    _login_password_step(page, user.email, PASSWORD)
    expect(page).to_have_url(CODE_URL)

    totp = pyotp.TOTP(user.totp_device.secret)
    valid_now = {totp.at(page.evaluate("Date.now() / 1000") + k * 30) for k in range(-2, 3)}
    wrong = next(c for c in ("000000", "123456", "999999") if c not in valid_now)
    page.locator("#id_code").fill(wrong)
    page.get_by_role("button", name="Valider").click()

    expect(page).to_have_url(CODE_URL)
    expect(page.get_by_text(WRONG_CODE)).to_be_visible()
    expect(page.locator("#id_code")).to_have_attribute("aria-invalid", "true")
    check_page(page, "login_code_error")

    # Not logged in: the account page sends back to the login form.
    page.goto("/comptes/compte/")
    expect(page).to_have_url(LOGIN_URL)
    expect(page.get_by_role("link", name="Se connecter")).to_be_visible()
    expect(page.get_by_role("button", name="Se déconnecter")).to_have_count(0)
    assert _journal("auth.login", user) == []
    assert len(_journal("2fa.failed", user)) == 1


def test_recovery_code_logs_in_once(page):
    """Login with a recovery code instead of the app: accepted once, journaled as such."""
    user = MembershipFactory(company_admin=True, user__totp=True).user
    recovery = secrets.new_recovery_code()
    RecoveryCode.objects.create(user=user, code_hash=secrets.digest(recovery))

    page.goto("/comptes/connexion/")
    _login_password_step(page, user.email, PASSWORD)
    expect(page).to_have_url(CODE_URL)
    page.locator("#id_code").fill(recovery.lower().replace("-", " "))
    page.get_by_role("button", name="Valider").click()
    expect(page).to_have_url(ACCOUNT_URL)
    expect(page.get_by_text("aucun code de secours restant : générez-en de nouveaux.")).to_be_visible()
    check_page(page, "account_after_recovery_login")
    assert [e.payload["second_factor"] for e in _journal("auth.login", user)] == ["recovery_code"]

    # Used up: the same code is refused next time.
    page.get_by_role("button", name="Se déconnecter").click()
    page.get_by_role("link", name="Se connecter").click()
    _login_password_step(page, user.email, PASSWORD)
    page.locator("#id_code").fill(recovery)
    page.get_by_role("button", name="Valider").click()
    expect(page).to_have_url(CODE_URL)
    expect(page.get_by_text("Code de secours incorrect ou déjà utilisé.")).to_be_visible()
    check_page(page, "login_code_recovery_refused")
