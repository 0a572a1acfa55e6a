"""The buyer's forms: « facultatif » is the one word for optional fields, and the decision's
reason is marked as the rule that requires it."""

import pytest
from django.urls import reverse

from marches.forms import DeclareForm
from tests.factories import ConsultationFactory
from tests.helpers import login_as, text

pytestmark = pytest.mark.django_db


@pytest.fixture
def agent(client, buyer_agent):
    login_as(client, buyer_agent.user)
    return buyer_agent


@pytest.mark.parametrize(
    "name", ["buyer_edit", "buyer_lots", "buyer_commission", "buyer_dce", "buyer_publish", "buyer_detail"]
)
def test_draft_pages_say_facultatif(client, agent, name):
    consultation = ConsultationFactory(buyer=agent.organisation, created_by=agent.user)
    page = text(client.get(reverse(f"marches:{name}", args=[consultation.pk])))
    assert "ptionnel" not in page.lower()


def test_an_optional_field_is_marked_facultatif(client, agent):
    page = text(client.get(reverse("marches:buyer_create")))
    assert "ptionnel" not in page.lower()
    assert "Téléphone du contact (facultatif)" in " ".join(page.split())


def test_a_reason_required_by_every_decision_offered_is_not_optional(client, agent):
    consultation = ConsultationFactory(buyer=agent.organisation, created_by=agent.user, published=True)
    response = client.get(reverse("marches:buyer_detail", args=[consultation.pk]))
    form = response.context["declare_form"]
    assert [value for value, _ in form.fields["outcome"].choices] == ["discontinued"]
    assert form.fields["reason"].required
    page = " ".join(text(response).split())
    assert "ptionnel" not in page.lower()
    assert "Motif (facultatif)" not in page


def test_a_reason_required_by_some_decisions_says_which():
    form = DeclareForm(choices=[("awarded", "Attribuée"), ("unsuccessful", "Infructueuse")])
    assert not form.fields["reason"].required
    rendered = " ".join(str(form["reason"].as_field_group()).split())
    assert "Motif — obligatoire si la procédure est « infructueuse »" in rendered
    assert "facultatif" not in rendered
    assert "ptionnel" not in rendered.lower()
    # And the form enforces what the label says.
    refused = DeclareForm({"outcome": "unsuccessful", "reason": " "}, choices=form.fields["outcome"].choices)
    assert not refused.is_valid()
    assert "obligatoire pour une procédure infructueuse" in refused.errors["reason"][0]
    assert DeclareForm({"outcome": "awarded"}, choices=form.fields["outcome"].choices).is_valid()


def test_a_reason_no_decision_needs_is_facultatif():
    form = DeclareForm(choices=[("awarded", "Attribuée"), ("archived", "Archivée")])
    rendered = " ".join(str(form["reason"].as_field_group()).split())
    assert "Motif (facultatif)" in rendered
