"""Bounded deposits: a company keeps at most DEPOSITS_UNFINISHED_MAX deposits in progress
(state « envoi en cours ») per consultation, announcing at most DEPOSITS_UNFINISHED_BYTES_FACTOR
times the consultation's maximum deposit size across them. Received and abandoned deposits
do not count; removing a file gives its bytes back."""

import pytest
from django.test import Client

from comptes.services import api_token_create
from offres import deposits
from offres.models import Deposit
from tests.factories import MembershipFactory

from . import builders

pytestmark = pytest.mark.django_db

MIB = 1024 * 1024


@pytest.fixture
def company_member():
    return MembershipFactory(company_admin=True).user


def api(user):
    client = Client()
    secret = api_token_create(user=user, name="cli")[1]
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    return client


def open_deposit(client, consultation):
    return client.post("/api/v1/depots/", {"consultation": consultation.pk}, content_type="application/json")


def announce(client, deposit_id, size, name="offre.pdf.age"):
    return client.post(
        f"/api/v1/depots/{deposit_id}/fichiers/",
        {"envelope": "offer", "name": name, "size": size},
        content_type="application/json",
    )


def test_thirty_deposits_of_500_mib_on_one_consultation_are_not_all_accepted(published, company_member):
    """The report: one company opened 30 deposits of 500 MiB each on one consultation, and
    every one was accepted."""
    consultation, _ = published
    assert consultation.max_deposit_bytes == 500 * MIB
    client = api(company_member)
    opened, announced, refusals = 0, 0, []
    for _ in range(30):
        response = open_deposit(client, consultation)
        if response.status_code != 201:
            refusals.append((response.status_code, response.json()["error"]["code"]))
            continue
        opened += 1
        response = announce(client, response.json()["id"], 500 * MIB)
        if response.status_code == 201:
            announced += 1
        else:
            refusals.append((response.status_code, response.json()["error"]["code"]))
    assert opened == 3  # DEPOSITS_UNFINISHED_MAX
    assert announced == 2  # 2 × 500 MiB: DEPOSITS_UNFINISHED_BYTES_FACTOR × max_deposit_bytes
    assert refusals[0] == (413, "unfinished_too_large")
    assert set(refusals[1:]) == {(429, "too_many_unfinished")}
    assert Deposit.objects.filter(company__memberships__user=company_member).count() == 3


def test_the_refusals_say_in_french_what_to_do(published, company_member):
    consultation, _ = published
    client = api(company_member)
    ids = [open_deposit(client, consultation).json()["id"] for _ in range(3)]
    refused = open_deposit(client, consultation)
    assert refused.status_code == 429
    error = refused.json()["error"]
    assert error["code"] == "too_many_unfinished"
    assert error["message"] == (
        "Votre entreprise a déjà 3 plis en cours d'envoi pour cette consultation (au plus 3) : validez-en "
        "un, ou abandonnez ceux qui ne serviront pas, avant d'en commencer un autre."
    )
    assert sorted(error["details"]["unfinished"]) == sorted(ids)
    assert announce(client, ids[0], 600 * MIB).status_code == 413  # above one deposit's maximum
    assert announce(client, ids[0], 500 * MIB).status_code == 201
    assert announce(client, ids[1], 400 * MIB).status_code == 201
    refused = announce(client, ids[2], 200 * MIB)
    assert refused.status_code == 413
    error = refused.json()["error"]
    assert error["code"] == "unfinished_too_large"
    assert "vos plis en cours d'envoi pour cette consultation annonceraient 1,1 Go" in error["message"]
    assert error["details"] == {
        "announced": 900 * MIB,
        "requested": 200 * MIB,
        "limit": 1000 * MIB,
    }


def test_received_and_abandoned_deposits_do_not_count(published, company_member, settings):
    settings.DEPOSITS_UNFINISHED_MAX = 1
    consultation, _ = published
    ciphertext = builders.encrypt_to(consultation, "offer", b"offre")
    builders.receive(consultation, company_member, [("offer", "offre.pdf.age", ciphertext)])
    company = deposits.company_for(company_member)
    first = deposits.deposit_open(consultation=consultation, company=company, user=company_member, lots=[])
    client = api(company_member)
    assert open_deposit(client, consultation).status_code == 429
    deposits.deposit_abandon(deposit=first, user=company_member)
    assert open_deposit(client, consultation).status_code == 201


def test_a_removed_file_gives_its_bytes_back(published, company_member):
    consultation, _ = published
    client = api(company_member)
    first, second, third = (open_deposit(client, consultation).json()["id"] for _ in range(3))
    big = announce(client, first, 500 * MIB).json()
    assert announce(client, second, 400 * MIB).status_code == 201
    assert announce(client, third, 200 * MIB).status_code == 413
    assert client.delete(f"/api/v1/depots/{first}/fichiers/{big['id']}").status_code == 204
    assert announce(client, third, 200 * MIB).status_code == 201


def test_the_bounds_are_per_company_and_per_consultation(published, company_member, settings, buyer_agent):
    from marches import services
    from tests.marches.test_services import publishable

    settings.DEPOSITS_UNFINISHED_MAX = 1
    consultation, _ = published
    client = api(company_member)
    assert open_deposit(client, consultation).status_code == 201
    assert open_deposit(client, consultation).status_code == 429
    # Another company on the same consultation, the same company on another one.
    assert open_deposit(api(MembershipFactory(company_admin=True).user), consultation).status_code == 201
    other, _ = publishable(buyer_agent, reference="2026-OUV-2")
    other = services.consultation_publish(consultation=other, published_by=buyer_agent.user)
    assert open_deposit(client, other).status_code == 201


def test_the_settings_set_the_bounds(published, company_member, settings):
    settings.DEPOSITS_UNFINISHED_MAX = 5
    settings.DEPOSITS_UNFINISHED_BYTES_FACTOR = 3
    consultation, _ = published
    client = api(company_member)
    ids = [open_deposit(client, consultation).json()["id"] for _ in range(5)]
    assert open_deposit(client, consultation).status_code == 429
    assert [announce(client, i, 500 * MIB).status_code for i in ids[:4]] == [201, 201, 201, 413]
