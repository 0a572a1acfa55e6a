"""One source for the dematerialisation threshold: the consultation form and the publication
check both read the dated rule (marches/rules.py). Were either to carry a figure of its own,
a different rule in force would show it."""

import re
from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from marches import checks, rules
from marches.models import Consultation
from tests.factories import ConsultationFactory
from tests.helpers import login_as, text

pytestmark = pytest.mark.django_db

# A rule no law ever made, so that no figure written anywhere can match it by chance.
FICTITIOUS = (
    rules.DematerialisationThreshold(
        rules.Period(date(2020, 1, 1), None), Decimal(57_300), "article d'essai n° 1 du décret fictif"
    ),
)
SHOWN = "57\u202f300 € HT"


@pytest.fixture
def fictitious_rule(monkeypatch):
    monkeypatch.setattr(rules, "DEMATERIALISATION_THRESHOLDS", FICTITIOUS)


def figures(page: str) -> list[str]:
    """The real thresholds (2018, 2020) written anywhere, but not inside 140 000."""
    return re.findall(r"(?<!\d)(?:25|40)[\s\u202f.]?000(?!\d)", page)


def test_the_law_in_force_is_40000_since_2020():
    rule = rules.dematerialisation_threshold_on(date(2026, 12, 4))
    assert rule.amount == Decimal(40_000)
    assert "2019-1344" in rule.source


def test_the_form_says_the_rule_in_force(client, buyer_agent, fictitious_rule):
    login_as(client, buyer_agent.user)
    page = text(client.get(reverse("marches:buyer_create")))
    assert f"À partir de {SHOWN} (article d'essai n° 1 du décret fictif" in page
    assert figures(page) == []


def test_the_form_says_40000_today(client, buyer_agent):
    login_as(client, buyer_agent.user)
    page = text(client.get(reverse("marches:buyer_create")))
    assert "À partir de 40\u202f000 € HT" in page
    assert figures(page) == ["40\u202f000"]


def test_the_check_applies_the_rule_in_force(buyer_agent, fictitious_rule):
    below = ConsultationFactory(buyer=buyer_agent.organisation, estimated_value=Decimal(57_000))
    check = {c.code: c for c in checks.publication_report(below).checks}["threshold_dematerialisation"]
    assert check.level == checks.ERROR
    assert SHOWN in check.message
    assert figures(check.message) == []
    Consultation.objects.filter(pk=below.pk).update(estimated_value=Decimal(57_300))
    below.refresh_from_db()
    check = {c.code: c for c in checks.publication_report(below).checks}["threshold_dematerialisation"]
    assert check.level == checks.OK
    assert SHOWN in check.message


def test_a_value_between_the_old_and_the_new_threshold_is_refused(buyer_agent):
    """€30,000: above the 2018 figure the form used to print, below the law of 2020."""
    consultation = ConsultationFactory(buyer=buyer_agent.organisation, estimated_value=Decimal(30_000))
    check = {c.code: c for c in checks.publication_report(consultation).checks}["threshold_dematerialisation"]
    assert check.level == checks.ERROR
    assert "40\u202f000 € HT" in check.message
