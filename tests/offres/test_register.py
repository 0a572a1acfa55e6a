"""The deposit register of buyer staff: every received deposit with its fate (retenu,
remplacé, hors délai), never its contents; a CSV export on the record."""

import pytest
from django.utils import timezone

from marches.models import Consultation, Lot
from preuves.models import JournalEntry
from tests.factories import MembershipFactory
from tests.helpers import login_as, text

from . import builders

SECRET = b"PRIX-CONFIDENTIEL-98765"


def receive(consultation, membership, lots=(), *, late=False):
    ciphertext = builders.encrypt_to(consultation, "offer", SECRET + b" offre")
    if late:
        Consultation.objects.filter(pk=consultation.pk).update(
            deadline=timezone.now() - timezone.timedelta(seconds=1)
        )
    return builders.receive(
        consultation,
        membership.user,
        [("offer", "offre-prix.pdf.age", ciphertext)],
        lots=lots,
        company=membership.organisation,
    )


@pytest.fixture
def register(published):
    consultation, _ = published
    first, second = MembershipFactory(company_admin=True), MembershipFactory(company_admin=True)
    early = receive(consultation, first)
    again = receive(consultation, first)
    other = receive(consultation, second)
    late = receive(consultation, second, late=True)
    return consultation, {"early": early, "again": again, "other": other, "late": late}


def test_fates_of_deposits(register):
    from offres.registers import deposit_register

    consultation, plis = register
    rows = {row.deposit.pk: row for row in deposit_register(consultation)}
    assert rows[plis["early"].pk].status == "remplacé par un pli ultérieur"
    assert rows[plis["again"].pk].status == "retenu"
    assert rows[plis["other"].pk].status == "retenu"
    assert rows[plis["late"].pk].status == "hors délai (conservé, jamais ouvert)"


def test_per_lot_the_last_in_time_is_kept(buyer_agent):
    from marches import services
    from offres.registers import deposit_register
    from tests.marches.test_services import publishable

    consultation, _ = publishable(buyer_agent)
    lots = [
        Lot.objects.create(consultation=consultation, number=n, title=f"Lot {n}", estimated_value=90_000)
        for n in (1, 2)
    ]
    consultation = services.consultation_publish(consultation=consultation, published_by=buyer_agent.user)
    company = MembershipFactory(company_admin=True)
    both = receive(consultation, company, lots)
    only_one = receive(consultation, company, lots[:1])
    rows = {row.deposit.pk: row for row in deposit_register(consultation)}
    assert rows[both.pk].status == "retenu pour le lot 2"
    assert rows[only_one.pk].status == "retenu pour le lot 1"


def test_staff_see_the_register_never_the_contents(client, register, buyer_agent):
    consultation, plis = register
    login_as(client, buyer_agent.user)
    response = client.get(f"/plis/acheteur/{consultation.pk}/registre-des-depots/")
    assert response.status_code == 200
    page = text(response)
    assert plis["early"].company.name in page
    assert "Hors délai" in page
    assert "Remplacé" in page
    assert SECRET.decode() not in page
    assert "offre-prix" not in page  # not even the file names
    csv = b"".join(client.get(f"/plis/acheteur/{consultation.pk}/registre-des-depots.csv").streaming_content)
    assert plis["other"].company.name.encode() in csv
    assert SECRET not in csv
    assert JournalEntry.objects.filter(action="deposit.register_exported").exists()


def test_other_people_get_nothing(client, register):
    consultation, _ = register
    other_buyer = MembershipFactory(buyer_agent=True, user__totp=True)
    login_as(client, other_buyer.user)
    assert client.get(f"/plis/acheteur/{consultation.pk}/registre-des-depots/").status_code == 404
    company = MembershipFactory(company_admin=True)
    login_as(client, company.user)
    assert client.get(f"/plis/acheteur/{consultation.pk}/registre-des-depots/").status_code == 403
    client.logout()
    assert client.get(f"/plis/acheteur/{consultation.pk}/registre-des-depots/").status_code == 302


def test_register_query_count(client, register, buyer_agent, django_assert_max_num_queries):
    consultation, _ = register
    login_as(client, buyer_agent.user)
    with django_assert_max_num_queries(14):
        assert client.get(f"/plis/acheteur/{consultation.pk}/registre-des-depots/").status_code == 200
