import pytest
from django.conf import settings
from django.urls import reverse

from comptes.models import Organisation
from preuves.models import JournalEntry
from tests.factories import MembershipFactory, UserFactory
from tests.helpers import login_as, text

pytestmark = pytest.mark.django_db
ADMIN = "/" + settings.ADMIN_URL


def test_admin_redirects_to_platform_login(client):
    response = client.get(ADMIN, follow=True)
    assert response.redirect_chain[-1][0] == reverse("comptes:login") + "?next=" + ADMIN


def test_staff_without_second_factor_session_is_kept_out(client):
    staff = UserFactory(staff=True, totp=True)
    login_as(client, staff, verified=False)
    assert client.get(ADMIN).status_code == 302


def test_non_staff_is_kept_out(client):
    login_as(client, MembershipFactory(buyer_admin=True, user__totp=True).user)
    response = client.get(ADMIN)
    assert response.status_code == 302


def test_staff_creates_buyer_through_the_service(client):
    staff = UserFactory(staff=True, totp=True)
    login_as(client, staff)
    assert client.get(ADMIN).status_code == 200
    response = client.post(
        reverse("admin:comptes_organisation_add"),
        {
            "name": "Département de Test",
            "siret": "21750000800016",
            "address": "",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    buyer = Organisation.objects.get(siret="21750000800016")
    assert buyer.kind == Organisation.Kind.BUYER
    entry = JournalEntry.objects.get(action="organisation.created")
    assert (entry.actor_id, entry.target_id) == (staff.pk, str(buyer.pk))


def test_journal_is_read_only_in_admin(client):
    staff = UserFactory(staff=True, totp=True)
    login_as(client, staff)
    from preuves import journal

    entry = journal.record("test.admin")
    assert client.get(reverse("admin:preuves_journalentry_changelist")).status_code == 200
    assert (
        client.post(
            reverse("admin:preuves_journalentry_delete", args=[entry.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert JournalEntry.objects.filter(pk=entry.pk).exists()


def test_staff_invites_first_administrator_of_a_new_buyer(client, django_capture_on_commit_callbacks):
    from django.core import mail

    from comptes.models import Invitation
    from tests.factories import OrganisationFactory

    staff = UserFactory(staff=True, totp=True)
    buyer = OrganisationFactory(buyer=True)
    login_as(client, staff)
    change = client.get(reverse("admin:comptes_organisation_change", args=[buyer.pk]))
    assert reverse("admin:comptes_organisation_invite", args=[buyer.pk]) in change.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:comptes_organisation_invite", args=[buyer.pk]),
            {"email": "dgs@commune.fr", "role": "buyer_admin"},
        )
    assert response.status_code == 302
    invitation = Invitation.objects.get()
    assert (invitation.organisation, invitation.role, invitation.invited_by) == (buyer, "buyer_admin", staff)
    assert mail.outbox[0].to == ["dgs@commune.fr"]
    assert JournalEntry.objects.get(action="invitation.created").actor_id == staff.pk


def test_staff_invitation_takes_the_normal_form_and_refuses_a_member(
    client, django_capture_on_commit_callbacks
):
    from django.core import mail

    from comptes.models import Invitation
    from tests.factories import MembershipFactory, OrganisationFactory

    from .spellings import ADDRESS, VARIANTS

    staff = UserFactory(staff=True, totp=True)
    buyer, member_of = OrganisationFactory(buyer=True), OrganisationFactory(buyer=True)
    MembershipFactory(organisation=member_of, user__email=ADDRESS, role="buyer_agent")
    login_as(client, staff)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:comptes_organisation_invite", args=[buyer.pk]),
            {"email": VARIANTS["fullwidth"], "role": "buyer_admin"},
        )
    assert Invitation.objects.get().email == ADDRESS
    assert mail.outbox[0].to == [ADDRESS]
    response = client.post(
        reverse("admin:comptes_organisation_invite", args=[member_of.pk]),
        {"email": VARIANTS["kelvin"], "role": "buyer_admin"},
    )
    assert response.status_code == 200
    assert "Cette personne est déjà membre de l'organisation." in text(response)
    assert Invitation.objects.count() == 1


def test_demo_refused_outside_local_settings(settings):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    settings.DEMO_ALLOWED = False
    with pytest.raises(CommandError, match="démonstration"):
        call_command("demo")
    assert not UserFactory._meta.model.objects.exists()
