"""Dated rules: thresholds and time limits follow the date, not today's law."""

import itertools
from datetime import date
from decimal import Decimal

import pytest

from marches import rules


@pytest.mark.parametrize(
    ("day", "central", "other", "utilities", "works"),
    [
        (date(2024, 1, 1), 143_000, 221_000, 443_000, 5_538_000),
        (date(2025, 12, 31), 143_000, 221_000, 443_000, 5_538_000),
        (date(2026, 1, 1), 140_000, 216_000, 432_000, 5_404_000),
        (date(2027, 12, 31), 140_000, 216_000, 432_000, 5_404_000),
    ],
)
def test_eu_thresholds_by_period(day, central, other, utilities, works):
    rule = rules.eu_thresholds_on(day)
    assert rule.for_contract(nature=rules.SUPPLIES, authority_type=rules.CENTRAL) == central
    assert rule.for_contract(nature=rules.SERVICES, authority_type=rules.LOCAL) == other
    assert rule.for_contract(nature=rules.SERVICES, authority_type=rules.UTILITIES) == utilities
    assert rule.for_contract(nature=rules.SUPPLIES, authority_type=rules.DEFENCE) == utilities
    assert rule.for_contract(nature=rules.WORKS, authority_type=rules.CENTRAL) == works


def test_unknown_period_is_an_error_not_a_guess():
    with pytest.raises(rules.RuleNotFoundError):
        rules.eu_thresholds_on(date(2028, 1, 1))


def test_periods_do_not_overlap_nor_leave_gaps():
    periods = [r.period for r in rules.EU_THRESHOLDS]
    for before, after in itertools.pairwise(periods):
        assert (after.valid_from - before.valid_until).days == 1


def test_dematerialisation_obligation_moved_to_40000_in_2020():
    assert rules.dematerialisation_threshold_on(date(2019, 12, 31)).amount == Decimal(25_000)
    assert rules.dematerialisation_threshold_on(date(2020, 1, 1)).amount == Decimal(40_000)
    assert rules.dematerialisation_threshold_on(date(2018, 1, 1)) is None


@pytest.mark.parametrize(
    ("procedure", "authority", "days", "article"),
    [
        (rules.OPEN, rules.LOCAL, 30, "R2161-2"),
        (rules.OPEN, rules.UTILITIES, 30, "R2161-3"),
        (rules.RESTRICTED, rules.LOCAL, 30, "R2161-6"),
        (rules.RESTRICTED, rules.UTILITIES, 15, "R2161-9"),
        (rules.NEGOTIATED, rules.CENTRAL, 30, "R2161-12"),
        (rules.NEGOTIATED, rules.UTILITIES, 15, "R2161-21"),
        (rules.COMPETITIVE_DIALOGUE, rules.LOCAL, 30, "R2161-24"),
    ],
)
def test_minimum_time_limits_cite_their_article(procedure, authority, days, article):
    rule = rules.minimum_time_limit(procedure=procedure, authority_type=authority, day=date(2026, 11, 22))
    assert rule.days == days
    assert article in rule.article


def test_adapted_procedure_has_no_legal_minimum():
    assert (
        rules.minimum_time_limit(procedure=rules.ADAPTED, authority_type=rules.LOCAL, day=date(2026, 1, 1))
        is None
    )


def test_no_time_limit_before_the_code_came_into_force():
    assert (
        rules.minimum_time_limit(procedure=rules.OPEN, authority_type=rules.LOCAL, day=date(2019, 3, 31))
        is None
    )


def test_euros_formatting():
    assert rules.euros(Decimal(5404000)) == "5\u202f404\u202f000 €"
