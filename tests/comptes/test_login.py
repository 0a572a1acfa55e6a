import time

import pytest
from django.urls import reverse

from comptes.models import TOTPDevice
from comptes.services import SESSION_2FA_VERIFIED
from preuves.models import JournalEntry
from tests.factories import PASSWORD, MembershipFactory, UserFactory
from tests.helpers import login_as, text, totp_code

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
    assert response.url == reverse("comptes:account")


def test_logout_is_journaled(client):
    user = MembershipFactory().user
    login_as(client, user)
    client.post(reverse("comptes:logout"))
    assert JournalEntry.objects.filter(action="auth.logout", actor_id=user.pk).exists()
    assert "_auth_user_id" not in client.session
