"""The public consultation API gives each envelope's age recipient and the share commitments,
as the consultation's page does, so that a bidder using the `age` command line pins them
before starting a deposit; and the API calls starting a deposit « Commencer un dépôt »."""

import json

import pytest
from django.test import Client

from comptes.services import api_token_create
from marches import services
from tests.factories import ConsultationFactory, MembershipFactory
from tests.marches.test_services import publishable

pytestmark = pytest.mark.django_db


@pytest.fixture
def published(buyer_agent):
    consultation, _ = publishable(buyer_agent, reference="2026-CLE-1")
    return services.consultation_publish(consultation=consultation, published_by=buyer_agent.user)


def test_the_recipients_and_commitments_are_those_of_the_deposit_and_the_page(published):
    detail = Client().get(f"/api/v1/consultations/{published.pk}/")  # anonymous
    assert detail.status_code == 200
    body = detail.json()
    company = MembershipFactory(company_admin=True).user
    opened = Client().post(
        "/api/v1/depots/",
        {"consultation": published.pk},
        content_type="application/json",
        headers={"authorization": f"Bearer {api_token_create(user=company, name='cli')[1]}"},
    )
    assert opened.status_code == 201, opened.content
    assert body["recipients"] == opened.json()["recipients"]
    assert set(body["recipients"]) == {"application", "offer"}
    page = Client().get(published.get_absolute_url()).content.decode()
    keys = {key.envelope: key for key in published.opening_keys.all()}
    assert [key["envelope"] for key in body["opening_keys"]] == ["application", "offer"]
    for key in body["opening_keys"]:
        stored = keys[key["envelope"]]
        assert key["recipient"] == stored.recipient == body["recipients"][key["envelope"]]
        assert key["recipient"] in page
        assert (key["threshold"], key["share_count"]) == (2, 3)
        assert key["envelope_label"] == stored.get_envelope_display()
        shares = stored.shares.order_by("index")
        assert key["commitments"] == [{"index": s.index, "commitment": s.commitment} for s in shares]
        assert len(key["commitments"]) == 3
        for share in key["commitments"]:
            assert share["commitment"] in page


def test_a_consultation_with_no_keys_yet_is_fine(db):
    consultation = ConsultationFactory(published=True)
    assert not consultation.opening_keys.exists()
    response = Client().get(f"/api/v1/consultations/{consultation.pk}/")
    assert response.status_code == 200
    assert response.json()["recipients"] == {}
    assert response.json()["opening_keys"] == []


def test_the_buyer_sees_the_keys_of_their_consultation_too(published, buyer_agent):
    client = Client()
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {api_token_create(user=buyer_agent.user, name='b')[1]}"
    body = client.get(f"/api/v1/buyer/consultations/{published.pk}/").json()
    assert set(body["recipients"]) == {"application", "offer"}


def test_the_keys_cost_a_fixed_number_of_queries(published, django_assert_max_num_queries):
    # Two prefetches (keys, shares), whatever the number of envelopes and shares.
    client = Client()
    client.get(f"/api/v1/consultations/{published.pk}/")
    with django_assert_max_num_queries(12) as captured:
        client.get(f"/api/v1/consultations/{published.pk}/")
    assert sum("offres_keyshare" in q["sql"] for q in captured.captured_queries) == 1
    assert sum("offres_openingkey" in q["sql"] for q in captured.captured_queries) == 1


def schema() -> dict:
    return Client().get("/api/schema/", headers={"accept": "application/vnd.oai.openapi+json"}).json()


def test_the_schema_describes_the_keys():
    components = schema()["components"]["schemas"]
    detail = components["ConsultationDetail"]["properties"]
    assert "Commencer un dépôt" in detail["recipients"]["description"]
    assert "engagements publiés" in detail["opening_keys"]["description"]
    key = components["OpeningKey"]["properties"]
    assert key["recipient"]["description"].startswith("Destinataire age")
    assert "commitment" in components["ShareCommitment"]["properties"]


def test_the_api_says_commencer_un_depot_not_ouvrir_un_pli():
    """« Ouvrir un pli » is the opening of the bids, by the commission: starting a deposit is
    « Commencer un dépôt »."""
    document = schema()
    assert document["paths"]["/api/v1/depots/"]["post"]["summary"] == "Commencer un dépôt"
    assert "ouvrir un pli" not in json.dumps(document, ensure_ascii=False).lower()
