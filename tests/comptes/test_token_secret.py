"""A new API token's secret is shown once, in the creation's own response, and stored nowhere."""

import pytest
from django.contrib.sessions.models import Session
from django.db import connection
from django.urls import reverse

from comptes.models import ApiToken
from tests.factories import MembershipFactory
from tests.helpers import login_as, text

pytestmark = pytest.mark.django_db


def _rows_holding(secret: str) -> list[str]:
    """Every table whose rows, as text, contain the secret."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            if any(secret in str(value) for row in cursor.fetchall() for value in row):
                found.append(table)
    return found


def test_secret_is_in_the_creation_response_and_nowhere_on_the_server(client):
    user = MembershipFactory().user
    login_as(client, user)
    response = client.post(reverse("comptes:token_create"), {"name": "script de dépôt"})
    assert response.status_code == 200  # the page itself, no redirect through the session
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get(user=user)
    secret = response.context["new_token"]["secret"]
    assert secret.startswith(token.prefix)
    assert secret in text(response)
    sessions = [session.get_decoded() for session in Session.objects.all()]
    assert sessions  # the logged-in session exists, and is what we search
    assert not [s for s in sessions if secret in repr(s)]
    assert _rows_holding(secret) == []
    assert not [c for c in response.cookies.values() if secret in c.value]
    reloaded = client.get(reverse("comptes:account"))
    assert reloaded.status_code == 200
    assert secret not in text(reloaded)
    assert token.prefix in text(reloaded)  # the token is listed, by its start only


def test_a_nameless_token_is_refused_and_creates_nothing(client):
    user = MembershipFactory().user
    login_as(client, user)
    response = client.post(reverse("comptes:token_create"), {"name": ""}, follow=True)
    assert "Donnez un nom au jeton." in text(response)
    assert not ApiToken.objects.filter(user=user).exists()
