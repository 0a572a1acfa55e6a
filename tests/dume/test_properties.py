"""Hypothesis: generated models, written in 2.1.1 and 4.1.0, read back to the same model."""

import copy
import dataclasses
import datetime as dt
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import dume
from dume import criteria
from dume.model import (
    Address,
    Answer,
    Contact,
    Document,
    DocumentKind,
    EconomicOperator,
    Identifier,
    Period,
    Person,
    Value,
    ValueKind,
)

# Text as XML carries it: no control characters, no surrounding blanks (the reader strips them),
# never empty (an empty element reads as absent).
text = (
    st.text(
        alphabet=st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp")),
        min_size=1,
        max_size=30,
    )
    .map(str.strip)
    .filter(bool)
)
optional_text = st.none() | text
dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31))
amounts = st.decimals(min_value=0, max_value=10**12, places=2, allow_nan=False, allow_infinity=False)
countries = st.sampled_from(["FR", "DE", "BE", "IT", "ES", "GR", "PL", "LU"])
addresses = st.builds(
    Address, street=optional_text, city=optional_text, postal_code=optional_text, country=countries
)
contacts = st.builds(Contact, name=text, email=optional_text, telephone=optional_text)
identifiers = st.builds(
    Identifier, value=text, scheme=st.sampled_from([None, "VAT", "NATIONAL", "LEI", "DUNS"])
)
people = st.builds(
    Person,
    first_name=text,
    family_name=optional_text,
    birth_date=st.none() | dates,
    birth_place=optional_text,
    email=optional_text,
    telephone=optional_text,
    address=st.none() | addresses,
    capacity=optional_text,
)


def operators(role_choices):
    return st.builds(
        EconomicOperator,
        name=text,
        identifiers=st.lists(identifiers, max_size=3),
        address=addresses,
        contact=st.none() | contacts,
        website=optional_text,
        size=st.sampled_from([None, "micro", "small", "medium", "large"]),
        role=st.sampled_from(role_choices),
        representatives=st.lists(people, max_size=2),
    )


def value_for(value_type: str):
    if value_type == "INDICATOR":
        return st.booleans().map(lambda v: [Value(ValueKind.INDICATOR, v)])
    if value_type == "AMOUNT":
        return st.tuples(amounts, st.sampled_from(["EUR", "USD", "PLN"])).map(
            lambda t: [Value(ValueKind.AMOUNT, t[0], unit=t[1])]
        )
    if value_type == "DATE":
        return dates.map(lambda d: [Value(ValueKind.DATE, d)])
    if value_type.startswith("QUANTITY"):
        return st.integers(0, 10**6).map(lambda n: [Value(ValueKind.QUANTITY, Decimal(n), unit="NUMBER")])
    if value_type == "URL":
        return text.map(lambda t: [Value(ValueKind.URI, t)])
    if value_type == "PERIOD":
        return st.just([])
    return text.map(lambda t: [Value(ValueKind.DESCRIPTION, t)])


@st.composite
def documents(draw, version: str):
    templates = criteria.templates(version)
    per_lot = version.startswith("4")
    lots = (
        draw(st.lists(st.sampled_from(["LOT-0001", "LOT-0002", "LOT-0003"]), unique=True, max_size=3))
        if per_lot
        else []
    )
    # A 4.1.0 Response for several lots is filed under a group of lots, and its answers name theirs.
    grouped = len(lots) > 1 or (bool(lots) and draw(st.booleans()))
    chosen = draw(st.lists(st.sampled_from(sorted(templates)), unique=True, min_size=1, max_size=4))
    document = Document(
        kind=DocumentKind.RESPONSE,
        version=version,
        id=draw(text),
        uuid=str(draw(st.uuids())),
        issue_date=draw(dates),
        contract_folder_id=draw(text),
        procedure_code=draw(st.none() | st.sampled_from(["open", "restricted"])),
        project_description=draw(optional_text),
        buyer=dume.model.Party(name=draw(text), address=draw(addresses)),
        lots=lots,
        economic_operator=draw(operators(["sole-tenderer", "group-lead", "group-mem", "subcont"])),
    )
    n = 0
    for uuid in chosen:
        criterion = copy.deepcopy(templates[uuid])
        criterion.answers = []
        criterion.lots = draw(st.lists(st.sampled_from(lots), unique=True)) if lots else []
        for prop in draw(st.lists(st.sampled_from(criterion.questions() or [None]), max_size=4)):
            if prop is None:
                continue
            n += 1
            periods = [Period(start=draw(dates), end=draw(dates))] if prop.value_type == "PERIOD" else []
            values = [
                dataclasses.replace(v, id=f"RV-{n}")
                for v in draw(value_for(prop.value_type or "DESCRIPTION"))
            ]
            criterion.answers.append(
                Answer(
                    id=f"R-{n}",
                    property_id=prop.id,
                    values=values,
                    periods=periods,
                    lots=draw(st.lists(st.sampled_from(lots), unique=True, min_size=1 if grouped else 0))
                    if lots
                    else [],
                )
            )
        document.criteria.append(criterion)
    if grouped:
        # The lots a grouped Response answers for are those its answers name.
        answered = list(dict.fromkeys(lot for c in document.criteria for a in c.answers for lot in a.lots))
        if answered:
            document.lots = answered
            document.lot_group = draw(st.sampled_from(["GLO-0001", "GLO-0002"]))
        else:
            document.lots = lots[:1]
    return document


def roundtrip(document: Document, version: str):
    back = dume.read(dume.write(document, version))
    assert dataclasses.replace(back, profile=None) == dataclasses.replace(document, profile=None)


# No example database: nothing written into the work tree, the same 25 draws budget each run.
PROFILE = settings(
    max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)


@PROFILE
@given(documents("4.1.0"))
def test_generated_models_round_trip_in_4_1_0(document):
    roundtrip(document, "4.1.0")


@PROFILE
@given(documents("2.1.1"))
def test_generated_models_round_trip_in_2_1_1(document):
    roundtrip(document, "2.1.1")
