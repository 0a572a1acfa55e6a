"""What people see of the opening keys: the ceremony passphrase page of a commission member,
and the recipients and commitments published on the consultation page."""

import pytest
from django.urls import reverse

from comptes.models import CeremonyKey
from preuves.models import JournalEntry
from tests.factories import CEREMONY_PASSPHRASE, PASSWORD, MembershipFactory
from tests.helpers import login_as, text

URL = "/comptes/compte/phrase-de-seance/"


@pytest.fixture
def member(client, db):
    user = MembershipFactory(commission_member=True, user__totp=True).user
    login_as(client, user)
    return user


def test_account_page_asks_commission_members_for_a_passphrase(client, member):
    page = text(client.get(reverse("comptes:account")))
    assert "Phrase de passe de séance" in page
    assert "Non choisie" in page


def test_set_then_change_the_passphrase(client, member):
    assert client.get(URL).status_code == 200
    response = client.post(
        URL, {"passphrase": CEREMONY_PASSPHRASE, "passphrase_confirm": CEREMONY_PASSPHRASE}
    )
    assert response.status_code == 302
    key = CeremonyKey.objects.get(user=member)
    assert key.recipient.startswith("age1")
    assert JournalEntry.objects.filter(action="ceremony.passphrase_set", actor_id=member.pk).exists()
    # No trace of the passphrase in what is stored or journaled.
    assert CEREMONY_PASSPHRASE not in str(JournalEntry.objects.values_list("payload", flat=True)[::1])
    new = "trois mots nouveaux pour la séance"
    wrong = client.post(
        URL, {"current_passphrase": "pas la bonne", "passphrase": new, "passphrase_confirm": new}
    )
    assert wrong.status_code == 400
    assert "Phrase de passe de séance actuelle incorrecte." in text(wrong)
    right = client.post(
        URL, {"current_passphrase": CEREMONY_PASSPHRASE, "passphrase": new, "passphrase_confirm": new}
    )
    assert right.status_code == 302
    assert CeremonyKey.objects.filter(user=member).count() == 2
    assert CeremonyKey.objects.get(user=member, retired_at__isnull=True).pk != key.pk


@pytest.mark.parametrize(
    ("passphrase", "confirm", "message"),
    [
        ("trop court", "trop court", "au moins 16 caractères"),
        (PASSWORD, PASSWORD, "différente du mot de passe de connexion"),
        (CEREMONY_PASSPHRASE, CEREMONY_PASSPHRASE + "x", "Les deux saisies ne sont pas identiques."),
    ],
)
def test_refused_passphrases(client, member, passphrase, confirm, message):
    response = client.post(URL, {"passphrase": passphrase, "passphrase_confirm": confirm})
    assert response.status_code == 400
    assert message in text(response)
    assert not CeremonyKey.objects.filter(user=member).exists()


def test_the_page_needs_a_login(client, db):
    response = client.get(URL)
    assert response.status_code == 302
    assert "/comptes/connexion/" in response["Location"]


def test_consultation_page_publishes_recipients_and_commitments(client, published):
    consultation, _ = published
    page = text(client.get(consultation.get_absolute_url()))
    for key in consultation.opening_keys.all():
        assert key.recipient in page
        for share in key.shares.all():
            assert share.commitment in page
    assert "2 parts sur 3 pour l'ouvrir" in page
