"""A new pli replaces, for its lots, the company's last pli received in time (only that one
is opened). The deposit page hands its script the plis a new one would replace — when each
was received, to the second, and what each envelope holds — so that it can say what the new
pli replaces and lacks before anything is sent. The consultation page tells a logged-in
company that it has already deposited, and when, with a link to its plis."""

import pytest
from django.urls import reverse
from django.utils import timezone

from marches import services
from marches.models import Consultation, Lot
from offres.models import Deposit
from tests.factories import MembershipFactory
from tests.helpers import login_as, text
from tests.marches.test_services import publishable

from . import builders
from .pages import retained_data, tree, visible_text

pytestmark = pytest.mark.django_db


def _paris_seconds(moment) -> str:
    return f"{timezone.localtime(moment):%H:%M:%S} (heure de Paris)"


def _both_envelopes(consultation, user, **kwargs):
    return builders.receive(
        consultation,
        user,
        [
            ("application", "dume.pdf.age", builders.encrypt_to(consultation, "application", b"dume")),
            ("application", "kbis.pdf.age", builders.encrypt_to(consultation, "application", b"kbis")),
            ("offer", "offre.pdf.age", builders.encrypt_to(consultation, "offer", b"offre")),
        ],
        **kwargs,
    )


def test_the_deposit_page_knows_the_pli_a_new_one_replaces(client, published, bidder_membership):
    consultation, _ = published
    user = bidder_membership.user
    first = _both_envelopes(consultation, user)
    login_as(client, user)
    response = client.get(reverse("offres:deposit_new", args=[consultation.pk]))
    data = retained_data(response)
    company = str(bidder_membership.organisation.pk)
    assert list(data) == [company]
    [kept] = data[company]
    assert kept["id"] == str(first.public_id)
    assert kept["envelopes"] == {"application": 2, "offer": 1}
    assert kept["files"] == 3
    assert kept["lots"] == []
    assert _paris_seconds(first.received_at) in kept["received"]
    assert kept["summary"] == "enveloppes candidature (2 fichiers) et offre (1 fichier)"
    # And in words, for a reader without the script.
    [listed] = tree(response).xpath('//*[@id="depot-retained"]')
    assert _paris_seconds(first.received_at) in visible_text(listed)
    assert "candidature (2 fichiers) et offre (1 fichier)" in visible_text(listed)
    # The box that asks for confirmation is there, for the script to fill.
    assert 'id="depot-replace-confirm"' in text(response)

    # Once replaced, the first is no longer the one the opening reads: the second is.
    second = builders.receive(
        consultation, user, [("offer", "offre.pdf.age", builders.encrypt_to(consultation, "offer", b"o2"))]
    )
    [kept] = retained_data(client.get(reverse("offres:deposit_new", args=[consultation.pk])))[company]
    assert kept["id"] == str(second.public_id)
    assert kept["summary"] == "enveloppe offre seule (1 fichier)"


def test_per_lot_and_never_a_late_pli_nor_another_companys(client, buyer_agent):
    consultation, _ = publishable(buyer_agent, reference="2026-LOTS-1")
    lots = [
        Lot.objects.create(consultation=consultation, number=n, title=f"Lot {n}", estimated_value=90_000)
        for n in (1, 2)
    ]
    consultation = services.consultation_publish(consultation=consultation, published_by=buyer_agent.user)
    mine = MembershipFactory(company_admin=True)
    other = MembershipFactory(company_admin=True)
    both = _both_envelopes(consultation, mine.user, lots=lots)
    only_first = builders.receive(
        consultation,
        mine.user,
        [("offer", "offre.pdf.age", builders.encrypt_to(consultation, "offer", b"lot 1"))],
        lots=lots[:1],
    )
    _both_envelopes(consultation, other.user, lots=lots)
    Consultation.objects.filter(pk=consultation.pk).update(deadline=timezone.now())
    builders.receive(  # late: kept, never opened, replaces nothing
        consultation,
        mine.user,
        [("offer", "offre.pdf.age", builders.encrypt_to(consultation, "offer", b"late"))],
        lots=lots,
    )
    Consultation.objects.filter(pk=consultation.pk).update(
        deadline=timezone.now() + timezone.timedelta(days=1)
    )
    assert Deposit.objects.filter(late=True).count() == 1
    login_as(client, mine.user)
    data = retained_data(client.get(reverse("offres:deposit_new", args=[consultation.pk])))
    assert list(data) == [str(mine.organisation.pk)]
    kept = {row["id"]: row["lots"] for row in data[str(mine.organisation.pk)]}
    assert kept == {str(both.public_id): [2], str(only_first.public_id): [1]}


def test_the_test_consultation_replaces_nothing(client, bidder_membership):
    from offres import simulation

    consultation = simulation.test_consultation()
    _both_envelopes(consultation, bidder_membership.user)
    login_as(client, bidder_membership.user)
    response = client.get(reverse("offres:simulation"))
    assert retained_data(response) == {}
    assert 'id="depot-retained"' not in text(response)


def test_the_consultation_page_says_the_company_has_already_deposited(client, published, bidder_membership):
    consultation, _ = published
    url = reverse("marches:detail", args=[consultation.pk])
    login_as(client, bidder_membership.user)
    assert 'id="my-deposits"' not in text(client.get(url))

    first = _both_envelopes(consultation, bidder_membership.user)
    second = builders.receive(
        consultation,
        bidder_membership.user,
        [("offer", "offre.pdf.age", builders.encrypt_to(consultation, "offer", b"o2"))],
    )
    assert second.received_at >= first.received_at
    [notice] = tree(client.get(url)).xpath('//*[@id="my-deposits"]')
    words = visible_text(notice)
    assert "Votre entreprise a déjà déposé pour cette consultation" in words
    assert "Charpentes Bernard : 2 plis reçus, le dernier le" in words
    assert _paris_seconds(second.received_at) in words
    assert notice.xpath(f'.//a[@href="{reverse("offres:deposit_list")}"]')

    # Nobody else is told: not anonymous visitors, another company, nor the buyer's staff.
    stranger = MembershipFactory(company_admin=True).user
    agent = MembershipFactory(buyer_agent=True, organisation=consultation.buyer, user__totp=True).user
    client.logout()
    assert 'id="my-deposits"' not in text(client.get(url))
    for user in (stranger, agent):
        login_as(client, user)
        assert 'id="my-deposits"' not in text(client.get(url))


def test_an_unfinished_upload_is_said_not_to_count(client, published, bidder_membership):
    from offres import deposits

    consultation, _ = published
    deposits.deposit_open(
        consultation=consultation,
        company=bidder_membership.organisation,
        user=bidder_membership.user,
        lots=[],
    )
    login_as(client, bidder_membership.user)
    [notice] = tree(client.get(reverse("marches:detail", args=[consultation.pk]))).xpath(
        '//*[@id="my-deposits"]'
    )
    assert "1 envoi non terminé, qui ne compte pas." in visible_text(notice)
