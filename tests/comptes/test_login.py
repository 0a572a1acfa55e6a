import time

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import authenticate
from django.urls import reverse

from comptes.models import TOTPDevice
from comptes.services import SESSION_2FA_VERIFIED
from preuves.models import JournalEntry
from tests.factories import PASSWORD, MembershipFactory, UserFactory
from tests.helpers import login_as, text, totp_code

from .spellings import ADDRESS, SPELLINGS, VARIANTS

pytestmark = pytest.mark.django_db


def password_step(client, user, password=PASSWORD):
    return client.post(reverse("comptes:login"), {"username": user.email, "password": password})


def code_step(client, code):
    return client.post(reverse("comptes:login_code"), {"code": code})


def test_company_user_without_second_factor_logs_in(client):
    user = MembershipFactory().user
    response = password_step(client, user)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)
    entry = JournalEntry.objects.get(action="auth.login")
    assert entry.actor_id == user.pk
    assert entry.payload["second_factor"] == "none"


def test_wrong_password_is_journaled_and_nothing_logged_in(client):
    user = UserFactory()
    response = password_step(client, user, "mauvais")
    assert response.status_code == 401
    assert "Adresse e-mail ou mot de passe incorrect." in text(response)
    assert "_auth_user_id" not in client.session
    entry = JournalEntry.objects.get(action="auth.login_failed")
    assert entry.payload["email"] == user.email
    assert entry.target_id == str(user.pk)


def test_unknown_email_is_journaled_with_the_same_message(client):
    response = client.post(reverse("comptes:login"), {"username": "personne@nulle.part", "password": "x"})
    assert response.status_code == 401
    assert "Adresse e-mail ou mot de passe incorrect." in text(response)
    assert JournalEntry.objects.get(action="auth.login_failed").payload["email"] == "personne@nulle.part"


def test_lockout_after_repeated_failures(client, settings):
    user = UserFactory()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        password_step(client, user, "mauvais")
    response = password_step(client, user)  # even the right password is refused now
    assert response.status_code == 429
    assert "ce compte est verrouillé pendant 15 minutes" in text(response)
    assert "_auth_user_id" not in client.session
    assert JournalEntry.objects.filter(action="auth.lockout").exists()


# --- One counter per account, whatever the spelling of its address ----------------------


@pytest.fixture
def commission_member(db):
    """An account whose right password leads to the code step (a commission member)."""
    return MembershipFactory(commission_member=True, user__email=ADDRESS, user__totp=True).user


def login(client, email, password=PASSWORD):
    return client.post(reverse("comptes:login"), {"username": email, "password": password})


def assert_locked_out(client, response):
    assert response.status_code == 429
    assert "ce compte est verrouillé pendant 15 minutes" in text(response)
    assert "pending_login" not in client.session  # the code step is out of reach
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("spelling", VARIANTS.values(), ids=VARIANTS.keys())
def test_every_spelling_of_the_address_reaches_the_same_account(client, commission_member, spelling):
    response = login(client, spelling)
    assert response.url == reverse("comptes:login_code")
    assert client.session["pending_login"]["user_id"] == commission_member.pk


@pytest.mark.parametrize("failing", SPELLINGS.values(), ids=SPELLINGS.keys())
def test_failures_in_one_spelling_lock_every_spelling(client, settings, commission_member, failing):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert login(client, failing, "mauvais").status_code == 401
    assert login(client, failing, "mauvais").status_code == 429  # the fifth failure locks
    # The right password is refused in every spelling, as stored or not.
    for spelling in SPELLINGS.values():
        assert_locked_out(client, login(client, spelling))
    assert list(AccessAttempt.objects.values_list("username", flat=True)) == [ADDRESS]


def test_spellings_share_one_counter(client, settings, commission_member):
    """No spelling brings fresh attempts: one failure in each of five spellings locks."""
    spellings = list(SPELLINGS.values())[: settings.AXES_FAILURE_LIMIT]
    assert len(set(spellings)) == settings.AXES_FAILURE_LIMIT
    for spelling in spellings[:-1]:
        assert login(client, spelling, "mauvais").status_code == 401
    assert login(client, spellings[-1], "mauvais").status_code == 429
    for spelling in SPELLINGS.values():
        assert_locked_out(client, login(client, spelling))
    # The journal names the account and its stored address for every attempt.
    entries = JournalEntry.objects.filter(action__in=["auth.login_failed", "auth.lockout"])
    assert {(e.target_id, e.payload["email"]) for e in entries} == {(str(commission_member.pk), ADDRESS)}


def test_authentication_counts_under_the_normal_form_whoever_calls_it(rf, settings, commission_member):
    """Below the login page (which normalises first): django-axes keys its counter, and the
    backend its lookup, on the normal form of whatever spelling they are handed."""
    spellings = list(VARIANTS.values())[: settings.AXES_FAILURE_LIMIT]
    for spelling in spellings:
        request = rf.post(reverse("comptes:login"), {"username": spelling})
        assert authenticate(request, username=spelling, password="mauvais") is None
    assert list(AccessAttempt.objects.values_list("username", "failures_since_start")) == [
        (ADDRESS, settings.AXES_FAILURE_LIMIT)
    ]
    request = rf.post(reverse("comptes:login"), {"username": ADDRESS})
    assert authenticate(request, username=ADDRESS, password=PASSWORD) is None
    assert request.axes_locked_out


def test_a_look_alike_outside_the_normal_form_reaches_nothing(client, commission_member):
    """The dotless ı is not folded to i (it is another letter), yet PostgreSQL's UPPER() maps
    it to I: such an address is refused before any lookup, never matched to the account."""
    response = login(client, ADDRESS.replace("commission", "commıssion"))
    assert response.status_code == 400
    assert "ne contient ni lettre accentuée ni caractère non latin" in text(response)
    assert "pending_login" not in client.session


def test_second_factor_required_when_enrolled(client):
    user = UserFactory(totp=True)
    response = password_step(client, user)
    assert response.url == reverse("comptes:login_code")
    assert "_auth_user_id" not in client.session  # not logged in until the code
    response = code_step(client, totp_code(user))
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)
    assert client.session[SESSION_2FA_VERIFIED] is True
    assert JournalEntry.objects.get(action="auth.login").payload["second_factor"] == "totp"


def test_wrong_code_refused_and_journaled(client):
    user = UserFactory(totp=True)
    password_step(client, user)
    wrong = f"{(int(totp_code(user)) + 1) % 1_000_000:06d}"
    response = code_step(client, wrong)
    assert response.status_code == 401
    assert "Code incorrect" in text(response)
    assert "_auth_user_id" not in client.session
    assert JournalEntry.objects.filter(action="2fa.failed", actor_id=user.pk).exists()


def test_replayed_code_is_refused(client):
    user = UserFactory(totp=True)
    code = totp_code(user)
    password_step(client, user)
    code_step(client, code)
    client.post(reverse("comptes:logout"))
    password_step(client, user)
    response = code_step(client, code)
    assert response.status_code == 401
    assert "Ce code a déjà été utilisé" in text(response)
    assert "_auth_user_id" not in client.session
    assert JournalEntry.objects.filter(action="2fa.replayed").exists()


def test_code_from_an_older_step_than_the_last_accepted_is_refused(client):
    """Replay protection stores the last accepted step: an earlier code, though still inside
    the drift window, is refused too."""
    user = UserFactory(totp=True)
    password_step(client, user)
    code_step(client, totp_code(user))
    client.post(reverse("comptes:logout"))
    password_step(client, user)
    assert code_step(client, totp_code(user, offset_steps=-1)).status_code == 401


def test_code_accepted_from_the_next_step_after_a_use(client):
    user = UserFactory(totp=True)
    password_step(client, user)
    code_step(client, totp_code(user))
    client.post(reverse("comptes:logout"))
    password_step(client, user)
    # The phone's clock may run ahead by one step: still accepted, and moves the mark on.
    assert code_step(client, totp_code(user, offset_steps=1)).status_code == 302
    device = TOTPDevice.objects.get(user=user)
    assert device.last_used_step == int(time.time() // 30) + 1


def test_too_many_wrong_codes_lock_the_second_factor(client, settings):
    user = UserFactory(totp=True)
    password_step(client, user)
    for _ in range(settings.TOTP_MAX_FAILURES):
        response = code_step(client, "000000" if totp_code(user) != "000000" else "111111")
    assert "bloquée pendant 15 minutes" in text(response)
    response = code_step(client, totp_code(user))
    assert response.status_code == 401
    assert "_auth_user_id" not in client.session
    assert JournalEntry.objects.filter(action="2fa.locked").exists()


def test_recovery_code_logs_in_once(client):
    from comptes.services import recovery_codes_regenerate

    user = UserFactory(totp=True)
    codes = recovery_codes_regenerate(user=user)
    password_step(client, user)
    assert code_step(client, codes[0].lower().replace("-", " ")).status_code == 302
    assert JournalEntry.objects.get(action="2fa.recovery_used").payload["remaining"] == 9
    client.post(reverse("comptes:logout"))
    password_step(client, user)
    response = code_step(client, codes[0])
    assert response.status_code == 401
    assert "Code de secours incorrect ou déjà utilisé" in text(response)


def test_code_step_without_password_step_goes_back_to_login(client):
    response = client.get(reverse("comptes:login_code"))
    assert response.url == reverse("comptes:login")


def test_pending_login_expires(client, monkeypatch):
    user = UserFactory(totp=True)
    password_step(client, user)
    session = client.session
    session["pending_login"]["at"] -= 3600
    session.save()
    response = code_step(client, totp_code(user))
    assert response.url == reverse("comptes:login")
    assert "_auth_user_id" not in client.session


def test_open_redirect_is_ignored(client):
    user = MembershipFactory().user
    response = client.post(
        reverse("comptes:login"),
        {"username": user.email, "password": PASSWORD, "next": "https://evil.example/"},
    )
    assert response.url == reverse("offres:deposit_list")


def test_logout_is_journaled(client):
    user = MembershipFactory().user
    login_as(client, user)
    client.post(reverse("comptes:logout"))
    assert JournalEntry.objects.filter(action="auth.logout", actor_id=user.pk).exists()
    assert "_auth_user_id" not in client.session


# --- Lockouts: warned before the last attempt, the way out on the lock page ------------------


def test_the_attempt_before_the_lock_warns(client, settings):
    user = UserFactory()
    for _ in range(settings.AXES_FAILURE_LIMIT - 2):
        response = password_step(client, user, "mauvais")
        assert "Attention" not in text(response)
    response = password_step(client, user, "mauvais")  # one attempt left
    assert response.status_code == 401
    assert "Attention : encore une tentative avant le verrouillage du compte pendant 15 minutes" in text(
        response
    )


def test_an_unknown_address_is_warned_alike(client, settings):
    """The warning counts attempts per address typed: it tells nothing about accounts."""
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = client.post(reverse("comptes:login"), {"username": "personne@nulle.part", "password": "x"})
    assert "Attention : encore une tentative" in text(response)


def test_the_lock_page_leads_to_a_new_password(client, settings):
    user = UserFactory()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = password_step(client, user, "mauvais")
    assert response.status_code == 429
    page = text(response)
    assert f'href="{reverse("comptes:password_reset")}"' in page
    assert "Choisir un nouveau mot de passe" in page


def wrong_code(user) -> str:
    return "000000" if totp_code(user) != "000000" else "111111"


def test_the_code_before_the_second_factor_lock_warns(client, settings):
    user = UserFactory(totp=True)
    password_step(client, user)
    for _ in range(settings.TOTP_MAX_FAILURES - 2):
        assert "Attention" not in text(code_step(client, wrong_code(user)))
    response = code_step(client, wrong_code(user))
    assert "Code incorrect" in text(response)
    assert "Attention : encore une tentative avant le blocage" in text(response)


@pytest.mark.parametrize("typed", ["abcdef", "12345", "1234567", "12a456", "１２３４５６", "ABCD-EFGH"])
def test_a_malformed_code_is_not_an_attempt(client, settings, typed):
    user = UserFactory(totp=True)
    password_step(client, user)
    for _ in range(settings.TOTP_MAX_FAILURES + 1):
        response = code_step(client, typed)
        assert response.status_code == 400
        assert "Ce code n'a pas le bon format" in text(response)
    device = TOTPDevice.objects.get(user=user)
    assert device.failed_attempts == 0
    assert device.locked_until is None
    assert not JournalEntry.objects.filter(action__startswith="2fa.").exists()
    # Still open to the right code.
    assert code_step(client, totp_code(user)).status_code == 302


def test_a_spaced_code_is_well_formed(client):
    user = UserFactory(totp=True)
    password_step(client, user)
    code = totp_code(user)
    assert code_step(client, f"{code[:3]} {code[3:]}").status_code == 302


def test_enrolment_does_not_count_a_malformed_code(client):
    from comptes.services import totp_enrolment_start

    user = MembershipFactory().user
    login_as(client, user)
    device = totp_enrolment_start(user=user)
    response = client.post(reverse("comptes:totp_enrol"), {"code": "abc"})
    assert "Ce code n'a pas le bon format" in text(response)
    device.refresh_from_db()
    assert device.failed_attempts == 0


# --- Where a login lands -------------------------------------------------------------------


def test_a_company_user_lands_on_its_deposits(client):
    user = MembershipFactory(company_admin=True).user
    response = password_step(client, user)
    assert response.url == reverse("offres:deposit_list")


def test_buyer_staff_land_on_their_consultations_after_the_code(client):
    user = MembershipFactory(buyer_agent=True, user__totp=True).user
    password_step(client, user)
    response = code_step(client, totp_code(user))
    assert response.url == reverse("marches:buyer_list")


def test_a_commission_member_lands_on_the_account_page(client):
    user = MembershipFactory(commission_member=True, user__totp=True).user
    password_step(client, user)
    assert code_step(client, totp_code(user)).url == reverse("comptes:account")


def test_next_still_wins(client):
    user = MembershipFactory(company_admin=True).user
    target = reverse("marches:search")
    response = client.post(
        reverse("comptes:login"), {"username": user.email, "password": PASSWORD, "next": target}
    )
    assert response.url == target


def test_a_recovery_code_lands_on_the_account_page(client):
    """A lost phone: the account page is where the second factor is set up again."""
    from comptes.services import recovery_codes_regenerate

    user = MembershipFactory(company_admin=True, user__totp=True).user
    codes = recovery_codes_regenerate(user=user)
    password_step(client, user)
    assert code_step(client, codes[0]).url == reverse("comptes:account")
