import pytest
from django.core.management import call_command
from django.test import Client

from comptes.services import api_token_create
from tests.factories import MembershipFactory, UserFactory
from tests.helpers import login_as

pytestmark = pytest.mark.django_db

ERROR_KEYS = {"code", "message", "details"}


def bearer(secret: str) -> dict:
    return {"authorization": f"Bearer {secret}"}


def test_me_with_token():
    membership = MembershipFactory(company_admin=True)
    _, secret = api_token_create(user=membership.user, name="t")
    response = Client().get("/api/v1/me/", headers=bearer(secret))
    assert response.status_code == 200
    data = response.json()
    assert data["email"] == membership.user.email
    assert data["two_factor_enabled"] is False
    assert data["memberships"] == [
        {
            "organisation": {
                "id": membership.organisation_id,
                "name": membership.organisation.name,
                "kind": "company",
                "identifier": membership.organisation.identifier,
            },
            "role": "company_admin",
            "role_label": "Administrateur de l'entreprise",
        }
    ]


def test_me_with_session(client):
    user = MembershipFactory().user
    login_as(client, user)
    assert client.get("/api/v1/me/").json()["id"] == user.pk


def test_buyer_session_without_second_factor_is_not_authenticated(client):
    agent = MembershipFactory(buyer_agent=True, user__totp=True).user
    login_as(client, agent, verified=False)
    response = client.get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "not_authenticated"),
        ({"authorization": "Bearer faux"}, "authentication_failed"),
        ({"authorization": "Bearer a b"}, "authentication_failed"),
    ],
)
def test_unauthenticated_error_shape(headers, code):
    response = Client().get("/api/v1/me/", headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == ERROR_KEYS
    assert body["error"]["code"] == code
    assert body["error"]["message"]  # French text for a person


def test_unknown_endpoint_and_method_share_the_shape():
    _, secret = api_token_create(user=UserFactory(), name="t")
    response = Client().get("/api/v1/nulle-part/", headers=bearer(secret))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    response = Client().post(
        "/api/v1/me/", data="{}", content_type="application/json", headers=bearer(secret)
    )
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_malformed_json_has_the_shape():
    _, secret = api_token_create(user=UserFactory(), name="t")
    response = Client().post(
        "/api/v1/me/", data="{pas du json", content_type="application/json", headers=bearer(secret)
    )
    assert response.status_code in (400, 405)
    assert set(response.json()["error"]) == ERROR_KEYS


def test_revoked_user_token_is_refused():
    user = UserFactory()
    _, secret = api_token_create(user=user, name="t")
    user.is_active = False
    user.save()
    assert Client().get("/api/v1/me/", headers=bearer(secret)).status_code == 401


def test_schema_and_docs_are_public_and_local():
    client = Client()
    schema = client.get("/api/schema/", headers={"accept": "application/vnd.oai.openapi+json"})
    assert schema.status_code == 200
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower()
    assert "https://" not in html.split("<body")[0]  # no external asset in <head>


def test_schema_validates(capsys):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")


def test_me_query_count(django_assert_max_num_queries):
    user = UserFactory()
    for _ in range(5):
        MembershipFactory(user=user)
    _, secret = api_token_create(user=user, name="t")
    with django_assert_max_num_queries(4):
        assert len(Client().get("/api/v1/me/", headers=bearer(secret)).json()["memberships"]) == 5
