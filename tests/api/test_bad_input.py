"""Inputs that used to be server errors (issue 11, §6): each is now refused in French, the
field named, on SQLite and PostgreSQL alike."""

import json
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from api.parsers import MAX_DEPTH
from marches.forms_public import SearchForm
from marches.models import Consultation
from offres.models import Deposit
from tests.factories import ConsultationFactory, MembershipFactory
from tests.helpers import login_as, text

from .test_consultations_api import BUYER_LIST, LIST, buyer_url, draft_body, error, post_json, token_for

pytestmark = pytest.mark.django_db

HUGE = 2**70


def refused(response, field: str) -> dict:
    """A 400 whose details and message both name the field."""
    body = error(response, 400, "validation")
    assert field in body["details"], body
    assert re.search(rf"(^| ){re.escape(field)}(\.[0-9a-z_.]+)? : ", body["message"]), body
    return body


# --- Search filters --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"deadline_before": "9999-12-31"}, "deadline_before"),
        ({"deadline_after": "0001-01-01"}, "deadline_after"),
        ({"deadline_after": "9999-12-31"}, "deadline_after"),
        ({"deadline_before": "0001-01-01"}, "deadline_before"),
    ],
)
def test_api_search_dates_out_of_range(params, field):
    ConsultationFactory(published=True)
    body = refused(Client().get(LIST, params), field)
    assert "entre le 01/01/1900 et le 31/12/2999" in body["message"]


def test_api_search_dates_at_the_bounds_are_searched():
    consultation = ConsultationFactory(published=True)
    response = Client().get(LIST, {"deadline_after": "1900-01-01", "deadline_before": "2999-12-31"})
    assert response.status_code == 200, response.content
    assert [item["id"] for item in response.json()["results"]] == [consultation.pk]


@pytest.mark.parametrize(
    ("params", "field"),
    [({"deadline_to": "9999-12-31"}, "deadline_to"), ({"deadline_from": "0001-01-01"}, "deadline_from")],
)
def test_search_page_dates_out_of_range_are_a_form_error(client, params, field):
    # The page answers as for its other invalid filters: a 400, the error beside the field.
    response = client.get("/consultations/", params)
    assert response.status_code == 400
    assert response.context["form"].errors[field] == [
        "Indiquez une date comprise entre le 01/01/1900 et le 31/12/2999."
    ]
    assert "Indiquez une date comprise entre le 01/01/1900 et le 31/12/2999." in text(response)
    assert response.context["page_obj"] is None


@pytest.mark.parametrize("field", ["deadline_from", "deadline_to"])
@pytest.mark.parametrize("day", ["0001-01-01", "1899-12-31", "3000-01-01", "9999-12-31"])
def test_search_form_refuses_dates_beyond_its_range(field, day):
    form = SearchForm.from_query({field: day})
    assert not form.is_valid()
    assert list(form.errors) == [field]


# --- Buyer API: dates and ids ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("deadline", "words"),
    [
        ("2027-13-45T99:00:00+01:00", "n'est pas une date et heure"),
        ("2027-02-30T12:00:00+01:00", "n'est pas une date et heure"),
        ("9999-12-31T23:59:59-05:00", "entre 1900 et 2999"),
        ("0001-01-01T00:00:00+01:00", "entre 1900 et 2999"),
    ],
)
@pytest.mark.parametrize("field", ["deadline", "questions_deadline"])
def test_impossible_or_far_dates_are_refused(field, deadline, words, buyer_agent):
    body = refused(
        post_json(Client(), BUYER_LIST, draft_body(**{field: deadline}), token_for(buyer_agent.user)), field
    )
    assert words in body["message"]
    assert not Consultation.objects.exists()


def test_a_far_but_real_deadline_is_accepted(buyer_agent):
    response = post_json(
        Client(), BUYER_LIST, draft_body(deadline="2999-12-31T23:59:59-05:00"), token_for(buyer_agent.user)
    )
    assert response.status_code == 201, response.content


def test_commission_member_ids_beyond_the_database_are_refused(buyer_agent):
    consultation = ConsultationFactory(buyer=buyer_agent.organisation)
    body = {"commission": {"members": [HUGE, 1], "president": 1, "quorum": 2}}
    response = Client().patch(
        buyer_url(consultation.pk),
        data=body,
        content_type="application/json",
        headers=token_for(buyer_agent.user),
    )
    answer = error(response, 400, "validation")
    assert answer["details"]["commission"]["members"]
    assert "commission.members.0 : " in answer["message"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"buyer": HUGE}, "buyer"),
        ({"max_deposit_bytes": HUGE}, "max_deposit_bytes"),
        ({"lots": [{"number": HUGE, "title": "Lot", "estimated_value": "1000"}]}, "lots"),
    ],
)
def test_other_integers_beyond_the_database_are_refused(overrides, field, buyer_agent):
    refused(post_json(Client(), BUYER_LIST, draft_body(**overrides), token_for(buyer_agent.user)), field)
    assert not Consultation.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"lots": [{"number": 1, "title": "Un"}, {"number": 2, "title": "Deux"}]}, "lots.0.estimated_value"),
        ({"commission": {"quorum": 2}}, "commission.members"),
    ],
)
def test_a_patch_replaces_lots_and_commission_whole(body, field, buyer_agent):
    # A PATCH is partial, but not down to the lots and commission it replaces (was a KeyError).
    consultation = ConsultationFactory(buyer=buyer_agent.organisation)
    response = Client().patch(
        buyer_url(consultation.pk),
        data=body,
        content_type="application/json",
        headers=token_for(buyer_agent.user),
    )
    answer = error(response, 400, "validation")
    assert f"{field} : Ce champ est obligatoire." in answer["message"]


# --- Deposits API -------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "field"), [({"lots": [HUGE]}, "lots"), ({"company": HUGE}, "company")])
def test_deposit_ids_beyond_the_database_are_refused(body, field, company_admin):
    consultation = ConsultationFactory(published=True, deadline=timezone.now() + timedelta(days=9))
    response = post_json(
        Client(), "/api/v1/depots/", {"consultation": consultation.pk, **body}, token_for(company_admin.user)
    )
    refused(response, field)
    assert not Deposit.objects.exists()


def test_deposit_consultation_id_beyond_the_database_is_refused(company_admin):
    refused(
        post_json(Client(), "/api/v1/depots/", {"consultation": HUGE}, token_for(company_admin.user)),
        "consultation",
    )


# --- JSON nesting --------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [BUYER_LIST, "/api/v1/depots/"])
@pytest.mark.parametrize(
    "body", ["[" * 100_000, "[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000]
)
def test_deeply_nested_json_is_refused(url, body, buyer_agent):
    response = Client().post(
        url, data=body, content_type="application/json", headers=token_for(buyer_agent.user)
    )
    answer = error(response, 400, "too_deep")
    assert answer["message"] == f"Corps de requête trop imbriqué : {MAX_DEPTH} niveaux au plus."


def test_nesting_up_to_the_bound_is_parsed(buyer_agent):
    # MAX_DEPTH levels reach the view, which then says what is wrong with the fields.
    nested = json.dumps({"title": json.loads("[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1))})
    response = Client().post(
        BUYER_LIST, data=nested, content_type="application/json", headers=token_for(buyer_agent.user)
    )
    assert error(response, 400, "validation")["details"]["title"]
    too_deep = json.dumps({"title": json.loads("[" * MAX_DEPTH + "]" * MAX_DEPTH)})
    response = Client().post(
        BUYER_LIST, data=too_deep, content_type="application/json", headers=token_for(buyer_agent.user)
    )
    error(response, 400, "too_deep")


# --- Unknown API paths -----------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_unknown_api_paths_answer_the_json_404_to_writes_too(method):
    user = MembershipFactory(company_admin=True).user
    client = login_as(Client(enforce_csrf_checks=True), user)
    response = getattr(client, method)("/api/v1/nulle-part/", data="{}", content_type="application/json")
    error(response, 404, "not_found")
    response = getattr(Client(enforce_csrf_checks=True), method)("/api/v1/depots/pas-un-uuid/fichiers/")
    error(response, 404, "not_found")
