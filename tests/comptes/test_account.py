import pyotp
import pytest
from django.test import Client
from django.urls import reverse

from comptes.models import ApiToken, RecoveryCode, TOTPDevice
from comptes.services import SESSION_2FA_VERIFIED
from preuves.models import JournalEntry
from tests.factories import MembershipFactory, UserFactory
from tests.helpers import login_as, text

pytestmark = pytest.mark.django_db


def test_account_requires_login(client):
    response = client.get(reverse("comptes:account"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("comptes:login"))


def test_enrolment_with_qr_and_recovery_codes(client):
    user = MembershipFactory().user
    login_as(client, user, verified=False)
    page = client.get(reverse("comptes:totp_enrol"))
    assert "<svg" in text(page)  # QR code rendered on the server, inline
    secret = TOTPDevice.objects.get(user=user).secret
    assert secret in text(page)
    response = client.post(reverse("comptes:totp_enrol"), {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 200
    codes = response.context["codes"]
    assert len(codes) == 10
    assert all(code in text(response) for code in codes)
    device = TOTPDevice.objects.get(user=user)
    assert device.confirmed_at is not None
    # Stored hashed only.
    stored = set(RecoveryCode.objects.filter(user=user).values_list("code_hash", flat=True))
    assert not any(code in stored for code in codes)
    assert client.session[SESSION_2FA_VERIFIED] is True
    assert JournalEntry.objects.filter(action="2fa.enrolled", actor_id=user.pk).exists()
    # The secret is not shown again.
    again = client.get(reverse("comptes:totp_enrol"), follow=True)
    assert secret not in text(again)


def test_enrolment_wrong_code_keeps_factor_inactive(client):
    user = MembershipFactory().user
    login_as(client, user)
    client.get(reverse("comptes:totp_enrol"))
    response = client.post(reverse("comptes:totp_enrol"), {"code": "123456"})
    assert response.status_code == 400
    assert "Code incorrect" in text(response)
    assert TOTPDevice.objects.get(user=user).confirmed_at is None
    # A code of the wrong shape is said to be one, and not counted.
    response = client.post(reverse("comptes:totp_enrol"), {"code": "12"})
    assert response.status_code == 400
    assert "pas le bon format" in text(response)
    assert TOTPDevice.objects.get(user=user).failed_attempts == 1


def test_buyer_must_enrol_before_anything_else(client):
    agent = MembershipFactory(buyer_agent=True).user
    login_as(client, agent, verified=False)
    for url in (reverse("comptes:account"), reverse("home"), reverse("comptes:organisation", args=[1])):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url == reverse("comptes:totp_enrol")
    assert client.get(reverse("comptes:totp_enrol")).status_code == 200


def test_buyer_cannot_disable_second_factor(client):
    agent = MembershipFactory(buyer_agent=True, user__totp=True).user
    login_as(client, agent)
    response = client.post(reverse("comptes:totp_disable"), follow=True)
    assert "obligatoire" in text(response)
    assert TOTPDevice.objects.filter(user=agent).exists()


def test_company_user_may_disable_second_factor(client):
    user = MembershipFactory(user__totp=True).user
    login_as(client, user)
    client.post(reverse("comptes:totp_disable"))
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert JournalEntry.objects.filter(action="2fa.disabled").exists()


def test_regenerate_recovery_codes_invalidates_old_ones(client):
    from comptes.services import recovery_codes_regenerate

    user = MembershipFactory(user__totp=True).user
    old = recovery_codes_regenerate(user=user)
    login_as(client, user)
    response = client.post(reverse("comptes:recovery_codes"))
    new = response.context["codes"]
    assert set(old).isdisjoint(new)
    assert RecoveryCode.objects.filter(user=user).count() == 10
    assert JournalEntry.objects.filter(action="2fa.recovery_regenerated").count() == 2


def test_profile_update(client):
    user = MembershipFactory().user
    login_as(client, user)
    client.post(reverse("comptes:profile"), {"first_name": "Zoé", "last_name": "Roux"})
    user.refresh_from_db()
    assert (user.first_name, user.last_name) == ("Zoé", "Roux")


def test_api_token_created_shown_once_and_revoked(client):
    user = MembershipFactory().user
    login_as(client, user)
    response = client.post(reverse("comptes:token_create"), {"name": "script de dépôt"}, follow=True)
    secret = response.context["new_token"]["secret"]
    assert secret in text(response)
    token = ApiToken.objects.get(user=user)
    assert secret not in token.token_hash
    assert secret not in text(client.get(reverse("comptes:account")))  # shown once
    api = Client()
    assert api.get("/api/v1/me/", headers={"authorization": f"Bearer {secret}"}).status_code == 200
    client.post(reverse("comptes:token_revoke", args=[token.pk]))
    assert api.get("/api/v1/me/", headers={"authorization": f"Bearer {secret}"}).status_code == 401
    actions = list(
        JournalEntry.objects.filter(action__startswith="api_token").values_list("action", flat=True)
    )
    assert actions == ["api_token.created", "api_token.revoked"]


def test_cannot_revoke_someone_elses_token(client):
    from comptes.services import api_token_create

    token, _ = api_token_create(user=UserFactory(), name="autre")
    login_as(client, MembershipFactory().user)
    assert client.post(reverse("comptes:token_revoke", args=[token.pk])).status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None


def test_account_page_query_count(client, django_assert_max_num_queries):
    user = MembershipFactory(user__totp=True).user
    login_as(client, user)
    with django_assert_max_num_queries(12):
        assert client.get(reverse("comptes:account")).status_code == 200


def test_navigation_depends_on_roles(client):
    agent = MembershipFactory(buyer_agent=True, user__totp=True)
    login_as(client, agent.user)
    nav = [item["label"] for item in client.get(reverse("home")).context["main_nav"]]
    assert nav == [
        "Accueil",
        "Consultations",
        "Preuves",
        "Mes consultations",
        agent.organisation.name,
        "Mon compte",
    ]
    company = MembershipFactory(company_admin=True)
    login_as(client, company.user)
    nav = [item["label"] for item in client.get(reverse("home")).context["main_nav"]]
    assert nav == [
        "Accueil",
        "Consultations",
        "Preuves",
        "Mes plis",
        company.organisation.name,
        "Mon compte",
    ]
    staff = UserFactory(staff=True, totp=True)
    login_as(client, staff)
    assert "Administration" in [i["label"] for i in client.get(reverse("home")).context["main_nav"]]
    client.post(reverse("comptes:logout"))
    nav = [i["label"] for i in client.get(reverse("home")).context["main_nav"]]
    assert nav == ["Accueil", "Consultations", "Preuves"]
