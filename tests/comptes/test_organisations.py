import re
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from comptes.models import Invitation, Membership
from preuves.models import JournalEntry
from tests.factories import MembershipFactory, UserFactory
from tests.helpers import login_as, text

from .spellings import ADDRESS, VARIANTS

pytestmark = pytest.mark.django_db


@pytest.fixture
def invite(client, django_capture_on_commit_callbacks):
    def post(organisation, email, role):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(
                reverse("comptes:invitation_create", args=[organisation.pk]),
                {"email": email, "role": role},
                follow=True,
            )

    return post


def invitation_path() -> str:
    return re.search(r"http://testserver(/comptes/invitations/\S+/)", mail.outbox[-1].body).group(1)


def test_member_sees_own_organisation_not_another(client, company_admin):
    other = MembershipFactory()
    login_as(client, company_admin.user)
    assert (
        client.get(reverse("comptes:organisation", args=[company_admin.organisation_id])).status_code == 200
    )
    assert client.get(reverse("comptes:organisation", args=[other.organisation_id])).status_code == 404
    entry = JournalEntry.objects.get(action="access.denied")
    assert entry.actor_id == company_admin.user_id
    assert entry.payload["lookup"] == {"pk": str(other.organisation_id)}
    # An id that does not exist at all is a plain 404, not a security event.
    assert client.get(reverse("comptes:organisation", args=[999_999])).status_code == 404
    assert JournalEntry.objects.filter(action="access.denied").count() == 1


@pytest.mark.parametrize(
    "name", ["comptes:invitation_create", "comptes:membership_role", "comptes:membership_remove"]
)
def test_admin_of_a_cannot_change_b(client, company_admin, name):
    other = MembershipFactory(company_admin=True)
    login_as(client, company_admin.user)
    args = (
        [other.organisation_id] if name == "comptes:invitation_create" else [other.organisation_id, other.pk]
    )
    response = client.post(reverse(name, args=args), {"email": "x@exemple.fr", "role": "company_member"})
    assert response.status_code == 404
    other.refresh_from_db()
    assert other.role == Membership.Role.COMPANY_ADMIN
    assert not Invitation.objects.exists()
    assert JournalEntry.objects.filter(action="access.denied", actor_id=company_admin.user_id).exists()


def test_admin_of_a_cannot_use_own_org_url_with_b_membership(client, company_admin):
    other = MembershipFactory()
    login_as(client, company_admin.user)
    url = reverse("comptes:membership_remove", args=[company_admin.organisation_id, other.pk])
    assert client.post(url).status_code == 404
    assert Membership.objects.filter(pk=other.pk).exists()


def test_plain_member_cannot_invite(client, invite):
    member = MembershipFactory()
    login_as(client, member.user)
    assert invite(member.organisation, "x@exemple.fr", "company_member").status_code == 404
    assert not Invitation.objects.exists()


def test_company_admin_invites_colleague_who_creates_account(client, company_admin, invite):
    login_as(client, company_admin.user)
    response = invite(company_admin.organisation, "Collegue@Exemple.fr", "company_member")
    assert "Invitation envoyée à" in text(response)
    invitation = Invitation.objects.get()
    assert invitation.email == "collegue@exemple.fr"
    path = invitation_path()
    assert path.split("/")[-2] not in invitation.token_hash  # only the digest is stored
    entry = JournalEntry.objects.get(action="invitation.created")
    assert (entry.actor_id, entry.organisation_id) == (company_admin.user_id, company_admin.organisation_id)

    client.post(reverse("comptes:logout"))
    response = client.post(
        path,
        {
            "first_name": "Camille",
            "last_name": "Petit",
            "password1": "un-mot-de-passe-solide",
            "password2": "un-mot-de-passe-solide",
        },
    )
    assert response.status_code == 302
    membership = Membership.objects.get(user__email="collegue@exemple.fr")
    assert membership.role == Membership.Role.COMPANY_MEMBER
    assert membership.user.email_verified
    assert JournalEntry.objects.filter(action="invitation.accepted", target_id=str(membership.pk)).exists()
    # The link works once.
    assert client.get(path).status_code == 410


def test_buyer_admin_invites_commission_member_existing_user(client, buyer_admin, invite):
    existing = UserFactory(email="elu@exemple.fr")
    login_as(client, buyer_admin.user)
    invite(buyer_admin.organisation, "elu@exemple.fr", "commission_member")
    path = invitation_path()
    login_as(client, existing, verified=False)
    response = client.post(path, {"action": "accept"})
    assert response.status_code == 302
    membership = Membership.objects.get(user=existing)
    assert membership.role == Membership.Role.COMMISSION_MEMBER
    # Joining a buyer makes the second factor mandatory: the session is confined to enrolment.
    response = client.get(reverse("comptes:account"))
    assert response.url == reverse("comptes:totp_enrol")


@pytest.mark.parametrize("spelling", VARIANTS.values(), ids=VARIANTS.keys())
def test_invitation_of_any_spelling_of_a_member_is_refused(client, company_admin, invite, spelling):
    MembershipFactory(organisation=company_admin.organisation, user__email=ADDRESS)
    login_as(client, company_admin.user)
    response = invite(company_admin.organisation, spelling, "company_member")
    assert "Cette personne est déjà membre de l'organisation." in text(response)
    assert not Invitation.objects.exists()
    assert mail.outbox == []


@pytest.mark.parametrize("spelling", VARIANTS.values(), ids=VARIANTS.keys())
def test_invitation_in_any_spelling_goes_to_the_account_of_its_normal_form(
    client, company_admin, invite, spelling
):
    existing = UserFactory(email=ADDRESS)
    login_as(client, company_admin.user)
    invite(company_admin.organisation, spelling, "company_member")
    assert Invitation.objects.get().email == ADDRESS
    assert mail.outbox[-1].to == [ADDRESS]
    path = invitation_path()
    client.post(reverse("comptes:logout"))
    # No account can be created from it: the address has one; it asks to log in instead.
    page = client.get(path)
    assert page.context["has_account"]
    assert page.context["form"] is None
    login_as(client, existing)
    assert client.post(path, {"action": "accept"}).status_code == 302
    assert Membership.objects.filter(user=existing, organisation=company_admin.organisation).exists()


def test_account_from_an_invitation_is_refused_once_its_normal_form_exists(company_admin):
    from comptes.services import invitation_accept_new_account, invitation_create
    from config.errors import ApplicationError

    _, token = invitation_create(
        organisation=company_admin.organisation,
        email=VARIANTS["long_s"],
        role="company_member",
        invited_by=company_admin.user,
    )
    UserFactory(email=ADDRESS)  # registered meanwhile, in another spelling
    with pytest.raises(ApplicationError, match="Un compte existe déjà avec cette adresse"):
        invitation_accept_new_account(
            token=token, first_name="Camille", last_name="Petit", password="un-mot-de-passe-solide"
        )
    assert not Membership.objects.filter(user__email=ADDRESS).exists()


def test_company_cannot_invite_buyer_roles(client, company_admin, invite):
    login_as(client, company_admin.user)
    response = invite(company_admin.organisation, "x@exemple.fr", "commission_member")
    assert "Invitation non envoyée" in text(response)
    assert not Invitation.objects.exists()


def test_invitation_for_someone_else_is_refused(client, company_admin, invite):
    login_as(client, company_admin.user)
    invite(company_admin.organisation, "invitee@exemple.fr", "company_member")
    path = invitation_path()
    intruder = UserFactory()
    login_as(client, intruder)
    response = client.post(path, {"action": "accept"}, follow=True)
    assert "Cette invitation est adressée à invitee@exemple.fr" in text(response)
    assert not Membership.objects.filter(user=intruder).exists()


def test_expired_invitation(client, company_admin, invite):
    login_as(client, company_admin.user)
    invite(company_admin.organisation, "tard@exemple.fr", "company_member")
    path = invitation_path()
    Invitation.objects.update(expires_at=timezone.now() - timedelta(minutes=1))
    client.post(reverse("comptes:logout"))
    response = client.post(
        path,
        {
            "first_name": "A",
            "last_name": "B",
            "password1": "un-mot-de-passe-solide",
            "password2": "un-mot-de-passe-solide",
        },
    )
    assert response.status_code == 410
    assert "Cette invitation a expiré" in text(response)
    assert not Membership.objects.filter(user__email="tard@exemple.fr").exists()


def test_unknown_invitation_token(client):
    response = client.get(reverse("comptes:invitation", args=["inconnu"]))
    assert response.status_code == 404
    assert "n'existe pas" in text(response)


def test_revoked_invitation(client, company_admin, invite):
    login_as(client, company_admin.user)
    invite(company_admin.organisation, "annule@exemple.fr", "company_member")
    path = invitation_path()
    invitation = Invitation.objects.get()
    client.post(reverse("comptes:invitation_revoke", args=[company_admin.organisation_id, invitation.pk]))
    assert JournalEntry.objects.filter(action="invitation.revoked").exists()
    client.post(reverse("comptes:logout"))
    assert client.get(path).status_code == 404


def test_role_change_is_journaled(client, company_admin):
    member = MembershipFactory(organisation=company_admin.organisation)
    login_as(client, company_admin.user)
    client.post(
        reverse("comptes:membership_role", args=[company_admin.organisation_id, member.pk]),
        {f"m{member.pk}-role": "company_admin"},
    )
    member.refresh_from_db()
    assert member.role == Membership.Role.COMPANY_ADMIN
    entry = JournalEntry.objects.get(action="membership.role_changed")
    assert entry.payload == {"user": member.user.email, "from": "company_member", "to": "company_admin"}


def test_last_admin_cannot_step_down_or_leave(client, company_admin):
    login_as(client, company_admin.user)
    response = client.post(
        reverse("comptes:membership_role", args=[company_admin.organisation_id, company_admin.pk]),
        {f"m{company_admin.pk}-role": "company_member"},
        follow=True,
    )
    assert "au moins un administrateur" in text(response)
    company_admin.refresh_from_db()
    assert company_admin.role == Membership.Role.COMPANY_ADMIN
    client.post(reverse("comptes:membership_remove", args=[company_admin.organisation_id, company_admin.pk]))
    assert Membership.objects.filter(pk=company_admin.pk).exists()


def test_remove_member(client, company_admin):
    member = MembershipFactory(organisation=company_admin.organisation)
    login_as(client, company_admin.user)
    client.post(reverse("comptes:membership_remove", args=[company_admin.organisation_id, member.pk]))
    assert not Membership.objects.filter(pk=member.pk).exists()
    assert JournalEntry.objects.get(action="membership.removed").payload["user"] == member.user.email


def test_organisation_page_query_count(client, company_admin, django_assert_max_num_queries):
    for _ in range(10):
        MembershipFactory(organisation=company_admin.organisation)
    login_as(client, company_admin.user)
    with django_assert_max_num_queries(12):
        assert (
            client.get(reverse("comptes:organisation", args=[company_admin.organisation_id])).status_code
            == 200
        )


def test_malformed_invitation_and_role_inputs_change_nothing(client, company_admin, invite):
    member = MembershipFactory(organisation=company_admin.organisation)
    login_as(client, company_admin.user)
    response = invite(company_admin.organisation, "pas-une-adresse", "company_member")
    assert "Invitation non envoyée" in text(response)
    assert not Invitation.objects.exists()
    response = client.post(
        reverse("comptes:membership_role", args=[company_admin.organisation_id, member.pk]),
        {f"m{member.pk}-role": "grand_chef"},
        follow=True,
    )
    assert "Rôle invalide pour ce type d'organisation." in text(response)
    member.refresh_from_db()
    assert member.role == Membership.Role.COMPANY_MEMBER
    assert not JournalEntry.objects.filter(action="membership.role_changed").exists()
