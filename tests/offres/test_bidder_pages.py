"""A company's pages: « Déposer un pli » (who may open it, what it shows before and after
the deadline), « Mes plis » (its own deposits, nobody else's) and the receipt on screen
(never for another company, nor for the buyer's staff)."""

import pytest
from django.urls import reverse
from django.utils import timezone

from marches.models import Consultation
from offres import deposits
from preuves.models import JournalEntry
from tests.factories import MembershipFactory
from tests.helpers import login_as, text

from . import builders
from .pages import deadline_box

pytestmark = pytest.mark.django_db


def test_the_deposit_page_shows_the_published_recipients(client, published, bidder_membership):
    consultation, _ = published
    detail = text(client.get(reverse("marches:detail", args=[consultation.pk])))
    assert "Déposer un pli" in detail
    url = reverse("offres:deposit_new", args=[consultation.pk])
    assert client.get(url).status_code == 302  # to the login page
    login_as(client, bidder_membership.user)
    response = client.get(url)
    assert response.status_code == 200
    page = text(response)
    for key in consultation.opening_keys.all():
        assert key.recipient in page
    assert "Entreprise qui dépose : <strong>Charpentes Bernard</strong>" in page
    assert "Chiffrer et envoyer le pli" in page
    assert "date limite est passée" not in deadline_box(response)["text"]


def test_after_the_deadline_the_page_warns_the_deposit_will_be_late(client, published, bidder_membership):
    consultation, _ = published
    Consultation.objects.filter(pk=consultation.pk).update(
        deadline=timezone.now() - timezone.timedelta(minutes=1)
    )
    login_as(client, bidder_membership.user)
    box = deadline_box(client.get(reverse("offres:deposit_new", args=[consultation.pk])))
    assert (
        "La date limite est passée. Un pli envoyé maintenant est reçu « hors délai » : il est conservé"
        in box["text"]
    )
    # The consultation page leads there, in the same words (tests/offres/test_deadline_box.py).
    detail = text(client.get(reverse("marches:detail", args=[consultation.pk])))
    assert ">Déposer un pli</a>" not in detail
    assert ">Déposer un pli hors délai</a>" in detail


def test_only_companies_deposit(client, published):
    consultation, _ = published
    agent = MembershipFactory(buyer_agent=True, organisation=consultation.buyer, user__totp=True).user
    login_as(client, agent)
    response = client.get(reverse("offres:deposit_new", args=[consultation.pk]))
    assert response.status_code == 403
    assert "Seules les entreprises déposent des plis" in text(response)
    assert "Chiffrer et envoyer" not in text(response)


def test_a_draft_has_no_deposit_page(client, buyer_agent, bidder_membership):
    from tests.marches.test_services import publishable

    draft, _ = publishable(buyer_agent, reference="2026-BROUILLON")
    login_as(client, bidder_membership.user)
    assert client.get(reverse("offres:deposit_new", args=[draft.pk])).status_code == 404


def test_my_deposits_lists_mine_and_nobody_elses(client, published, received, bidder_membership):
    consultation, _ = published
    stranger = MembershipFactory(company_admin=True, organisation__name="Couvreurs Associés")
    unfinished = deposits.deposit_open(
        consultation=consultation, company=stranger.organisation, user=stranger.user, lots=[]
    )
    login_as(client, bidder_membership.user)
    page = text(client.get(reverse("offres:deposit_list")))
    assert consultation.reference in page
    assert '<p class="fr-badge fr-badge--success fr-badge--sm">Reçu</p>' in page
    assert "retenu" in page
    assert str(received.public_id) in client.get(reverse("offres:deposit_list")).content.decode()
    assert str(unfinished.public_id) not in client.get(reverse("offres:deposit_list")).content.decode()
    login_as(client, stranger.user)
    page = text(client.get(reverse("offres:deposit_list")))
    assert '<p class="fr-badge fr-badge--warning fr-badge--sm">Envoi non terminé</p>' in page
    assert str(received.public_id) not in client.get(reverse("offres:deposit_list")).content.decode()


def test_the_receipt_on_screen(client, received, bidder_membership):
    login_as(client, bidder_membership.user)
    page = text(client.get(reverse("offres:deposit_detail", args=[received.public_id])))
    assert "Accusé de réception" in page
    assert "Votre pli est reçu" in page
    for label in ("Déposé par", "Acheteur", "Consultation", "Date et heure de réception", "Objet"):
        assert label in page
    assert received.digest in page
    assert received.files.get().sha256 in page
    assert f"feuille n° {received.log_index}" in page


def test_an_unfinished_deposit_says_it_does_not_count(client, published, bidder_membership):
    consultation, _ = published
    opened = deposits.deposit_open(
        consultation=consultation,
        company=bidder_membership.organisation,
        user=bidder_membership.user,
        lots=[],
    )
    login_as(client, bidder_membership.user)
    page = text(client.get(reverse("offres:deposit_detail", args=[opened.public_id])))
    assert "Pli non reçu" in page
    assert "pas reçu et ne compte pas" in page


def test_no_one_else_sees_a_deposit_not_even_the_buyer(client, published, received):
    """Another company and the buyer's own agent get a 404 on the receipt page and on the API,
    and the attempt is journaled: no one but the depositor reaches a deposit before the
    ceremony (and no page ever serves its ciphertext)."""
    consultation, _ = published
    stranger = MembershipFactory(company_admin=True).user
    agent = MembershipFactory(buyer_agent=True, organisation=consultation.buyer, user__totp=True).user
    for user in (stranger, agent):
        login_as(client, user)
        assert client.get(reverse("offres:deposit_detail", args=[received.public_id])).status_code == 404
        for suffix in ("/", "/preuve", "/bordereau.json", "/accuse.pdf"):
            assert client.get(f"/api/v1/depots/{received.public_id}{suffix}").status_code == 404
    denied = JournalEntry.objects.filter(action="access.denied", payload__model="offres.deposit")
    assert {entry.actor_id for entry in denied} == {stranger.pk, agent.pk}


def test_my_deposits_say_which_one_will_be_opened(client, published, received, bidder_membership):
    consultation, _ = published
    ciphertext = builders.encrypt_to(consultation, "offer", b"offre corrigee")
    later = builders.receive(
        consultation, bidder_membership.user, [("offer", "offre-v2.pdf.age", ciphertext)]
    )
    login_as(client, bidder_membership.user)
    response = client.get(reverse("offres:deposit_list"))
    fates = {deposit.pk: fate for deposit, fate in response.context["rows"]}
    assert fates == {received.pk: "remplacé par un pli ultérieur", later.pk: "retenu"}


def test_my_deposits_query_count(
    client, published, received, bidder_membership, django_assert_max_num_queries
):
    consultation, _ = published
    for n in range(3):
        ciphertext = builders.encrypt_to(consultation, "offer", b"offre %d" % n)
        builders.receive(consultation, bidder_membership.user, [("offer", f"offre-{n}.pdf.age", ciphertext)])
    login_as(client, bidder_membership.user)
    with django_assert_max_num_queries(16):
        assert client.get(reverse("offres:deposit_list")).status_code == 200


def test_a_member_of_two_companies_chooses_which_one_deposits(client, published, bidder_membership):
    consultation, _ = published
    other = MembershipFactory(
        company_admin=True, user=bidder_membership.user, organisation__name="Atelier Zéphyr"
    )
    login_as(client, bidder_membership.user)
    page = text(client.get(reverse("offres:deposit_new", args=[consultation.pk])))
    assert '<select class="fr-select" id="depot-company" name="company">' in page
    assert f'<option value="{other.organisation.pk}">Atelier Zéphyr</option>' in page
    assert f'<option value="{bidder_membership.organisation.pk}">Charpentes Bernard</option>' in page


def test_a_browser_upload_renews_the_session(client, published, bidder_membership):
    """Each chunk sent with the browser's session sends the session cookie again, with a
    fresh expiry: a long upload is not cut by the session's end."""
    consultation, _ = published
    user = bidder_membership.user
    opened = deposits.deposit_open(
        consultation=consultation, company=bidder_membership.organisation, user=user, lots=[]
    )
    ciphertext = builders.encrypt_to(consultation, "offer", b"offre")
    file = deposits.file_add(deposit=opened, user=user, envelope="offer", name="o.age", size=len(ciphertext))
    login_as(client, user)
    response = client.put(
        f"/api/v1/depots/{opened.public_id}/fichiers/{file.pk}/contenu?offset=0",
        data=ciphertext,
        content_type="application/octet-stream",
    )
    assert response.status_code == 200, response.content
    assert response.json()["complete"]
    assert "sessionid" in response.cookies
    assert response.cookies["sessionid"]["max-age"]
