"""Procurement rules as dated rules (STYLE.md §8).

Thresholds and time limits change with the law. Each rule carries the period during which it
applies and the text that sets it, and a consultation is checked against the rules in force
on the day it is published: an old consultation keeps the rules it was published under.

Sources:
- European thresholds: Commission Delegated Regulations (EU) 2019/1827-1830 (2020-2021),
  2021/1950-1953 (2022-2023), 2023/2495-2497 (2024-2025) and 2025/2150-2152 (2026-2027), as
  published in the Avis relatif aux seuils de procédure (JORF).
- Dematerialisation: article R2132-2 of the Code de la commande publique (CCP); €25,000
  excl. VAT from 2018-10-01 (décret n° 2016-360, art. 41), €40,000 from 2020-01-01 (décret
  n° 2019-1344).
- Minimum time limits: articles R2161-2 to R2161-25 CCP (in force since 2019-04-01), with the
  reductions that apply when candidatures and offers may be sent electronically, which is
  always the case on this platform.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

# Kept in sync with Consultation.Procedure / Nature / AuthorityType (plain strings so that
# this module stays free of Django models and is testable on its own).
ADAPTED = "adapted"
OPEN = "open"
RESTRICTED = "restricted"
NEGOTIATED = "negotiated"
COMPETITIVE_DIALOGUE = "competitive_dialogue"
FORMALISED_PROCEDURES = (OPEN, RESTRICTED, NEGOTIATED, COMPETITIVE_DIALOGUE)

WORKS = "works"
SUPPLIES = "supplies"
SERVICES = "services"

CENTRAL = "central"
LOCAL = "local"
UTILITIES = "utilities"
DEFENCE = "defence"

# A procédure adaptée with a deadline closer than this gets a warning (no legal minimum, but
# the buyer must leave "a reasonable time", and fifteen days is the usual floor).
ADAPTED_RECOMMENDED_DAYS = 15


@dataclass(frozen=True)
class Period:
    valid_from: date
    valid_until: date | None  # inclusive; None: still in force

    def covers(self, day: date) -> bool:
        return self.valid_from <= day and (self.valid_until is None or day <= self.valid_until)

    def label(self) -> str:
        start = self.valid_from.strftime("%d/%m/%Y")
        if self.valid_until is None:
            return f"depuis le {start}"
        return f"du {start} au {self.valid_until.strftime('%d/%m/%Y')}"


@dataclass(frozen=True)
class EuThresholds:
    period: Period
    central_supplies_services: Decimal
    other_supplies_services: Decimal
    utilities_defence_supplies_services: Decimal
    works: Decimal
    source: str

    def for_contract(self, *, nature: str, authority_type: str) -> Decimal:
        if nature == WORKS:
            return self.works
        if authority_type in (UTILITIES, DEFENCE):
            return self.utilities_defence_supplies_services
        if authority_type == CENTRAL:
            return self.central_supplies_services
        return self.other_supplies_services


EU_THRESHOLDS: tuple[EuThresholds, ...] = (
    EuThresholds(
        Period(date(2020, 1, 1), date(2021, 12, 31)),
        Decimal(139_000),
        Decimal(214_000),
        Decimal(428_000),
        Decimal(5_350_000),
        "Règlements délégués (UE) 2019/1827 à 2019/1830",
    ),
    EuThresholds(
        Period(date(2022, 1, 1), date(2023, 12, 31)),
        Decimal(140_000),
        Decimal(215_000),
        Decimal(431_000),
        Decimal(5_382_000),
        "Règlements délégués (UE) 2021/1950 à 2021/1953",
    ),
    EuThresholds(
        Period(date(2024, 1, 1), date(2025, 12, 31)),
        Decimal(143_000),
        Decimal(221_000),
        Decimal(443_000),
        Decimal(5_538_000),
        "Règlements délégués (UE) 2023/2495 à 2023/2497",
    ),
    EuThresholds(
        Period(date(2026, 1, 1), date(2027, 12, 31)),
        Decimal(140_000),
        Decimal(216_000),
        Decimal(432_000),
        Decimal(5_404_000),
        "Règlements délégués (UE) 2025/2150 à 2025/2152",
    ),
)


@dataclass(frozen=True)
class DematerialisationThreshold:
    period: Period
    amount: Decimal
    source: str


DEMATERIALISATION_THRESHOLDS: tuple[DematerialisationThreshold, ...] = (
    DematerialisationThreshold(
        Period(date(2018, 10, 1), date(2019, 12, 31)),
        Decimal(25_000),
        "article 41 du décret n° 2016-360, puis article R2132-2 du code de la commande publique",
    ),
    DematerialisationThreshold(
        Period(date(2020, 1, 1), None),
        Decimal(40_000),
        "article R2132-2 du code de la commande publique (décret n° 2019-1344)",
    ),
)


@dataclass(frozen=True)
class MinimumTimeLimit:
    period: Period
    procedure: str
    authority_types: frozenset[str]
    days: int
    article: str
    what: str  # what the deadline receives: "candidatures et offres", "candidatures"


_PUBLIC_AUTHORITIES = frozenset({CENTRAL, LOCAL, DEFENCE})
_CCP = Period(date(2019, 4, 1), None)

# The deposit deadline on this platform is the first one of the procedure: candidatures and
# offers together for an open procedure, candidatures for the others.
MINIMUM_TIME_LIMITS: tuple[MinimumTimeLimit, ...] = (
    MinimumTimeLimit(
        _CCP,
        OPEN,
        frozenset({CENTRAL, LOCAL, DEFENCE, UTILITIES}),
        30,
        "articles R2161-2 et R2161-3 (2°) du code de la commande publique : 35 jours, ramenés à "
        "30 jours lorsque les plis peuvent être transmis par voie électronique",
        "candidatures et offres",
    ),
    MinimumTimeLimit(
        _CCP,
        RESTRICTED,
        _PUBLIC_AUTHORITIES,
        30,
        "article R2161-6 du code de la commande publique",
        "candidatures",
    ),
    MinimumTimeLimit(
        _CCP,
        RESTRICTED,
        frozenset({UTILITIES}),
        15,
        "article R2161-9 du code de la commande publique",
        "candidatures",
    ),
    MinimumTimeLimit(
        _CCP,
        NEGOTIATED,
        _PUBLIC_AUTHORITIES,
        30,
        "article R2161-12 du code de la commande publique",
        "candidatures",
    ),
    MinimumTimeLimit(
        _CCP,
        NEGOTIATED,
        frozenset({UTILITIES}),
        15,
        "article R2161-21 du code de la commande publique",
        "candidatures",
    ),
    MinimumTimeLimit(
        _CCP,
        COMPETITIVE_DIALOGUE,
        _PUBLIC_AUTHORITIES,
        30,
        "article R2161-24 du code de la commande publique",
        "candidatures",
    ),
    MinimumTimeLimit(
        _CCP,
        COMPETITIVE_DIALOGUE,
        frozenset({UTILITIES}),
        15,
        "article R2161-24 du code de la commande publique",
        "candidatures",
    ),
)


class RuleNotFoundError(LookupError):
    """No rule covers this date: the platform does not know the law of that period."""


def eu_thresholds_on(day: date) -> EuThresholds:
    for rule in EU_THRESHOLDS:
        if rule.period.covers(day):
            return rule
    raise RuleNotFoundError(f"Aucun seuil européen connu pour le {day:%d/%m/%Y}.")


def dematerialisation_threshold_on(day: date) -> DematerialisationThreshold | None:
    for rule in DEMATERIALISATION_THRESHOLDS:
        if rule.period.covers(day):
            return rule
    return None


def minimum_time_limit(*, procedure: str, authority_type: str, day: date) -> MinimumTimeLimit | None:
    """The legal minimum between publication and the deposit deadline, or None when the law
    sets none (procédure adaptée)."""
    for rule in MINIMUM_TIME_LIMITS:
        if rule.procedure == procedure and authority_type in rule.authority_types and rule.period.covers(day):
            return rule
    return None


def euros(amount: Decimal | int) -> str:
    """French formatting of an amount: 5 404 000 €."""
    whole = f"{int(Decimal(amount)):,}".replace(",", "\u202f")
    return f"{whole} €"
