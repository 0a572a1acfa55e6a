"""Conversions whose questions changed meaning between versions, and what the target's rules forbid."""

import dume
from dume.model import Value, ValueKind
from dume.validation import validate

from .conftest import STANDARDS

AUTHORISATION = "9eeb6d5c-0eb8-48e8-a4c5-5087a7c095a4"
MEMBERSHIP = "73f10e36-ed7a-412e-995c-aa76463e3776"
AUTHORISATION_NAME = "For service contracts: authorisation of particular organisation needed"


def answers_by_text(criterion):
    texts = {prop.id: prop.description for prop in criterion.properties()}
    return {texts[a.property_id]: a for a in criterion.answers}


def test_the_official_4_1_0_response_converted_to_2_1_1_passes_the_2_1_1_rules(compiled_rules):
    # It used to fail BR-TCR-06-01: 4.x's « Your Answer » (does the EO hold the authorisation?)
    # went to 2.1.1's « Your answer? » (is one needed?), whose yes requires two follow-ups.
    source = dume.read(STANDARDS / "edm-4.1.0/xml-examples/ESPD-Response.xml")
    xml, losses = dume.convert(source, "2.1.1")
    report = validate(xml)
    assert report.valid, [str(issue) for issue in report.errors][:5]
    converted = dume.read(xml)
    for uuid in (AUTHORISATION, MEMBERSHIP):
        answers = answers_by_text(converted.criterion(uuid))
        assert answers["Indicate whether the economic operator has it"].indicator is True
        assert answers["If yes, please describe them"].first(ValueKind.DESCRIPTION) == "[Registration number]"
        assert "Your answer?" not in answers  # 4.x never asks it: left unanswered, never invented
    assert not any("BR-TCR-06" in loss for loss in losses)
    # One line per criterion for the per-lot answers 2.1.1 cannot carry, not one per answer.
    per_lot = [loss for loss in losses if "répondre par lot" in loss]
    assert len(per_lot) == len({loss.split(" : ")[0] for loss in per_lot})


def test_a_2_1_1_holder_answer_moves_to_the_4_1_0_holder_question(compiled_rules):
    # « An authorisation is needed » (yes) and « the EO does not hold it » (no): 4.x's « Your
    # Answer » is the second one; the description of a yes that 4.x no longer follows is listed.
    source = dume.read(STANDARDS / "edm-2.1.1/xml/BASIC-ESPDResponse-2.1.1.xml")
    criterion = source.criterion(AUTHORISATION)
    answers_by_text(criterion)["Indicate whether the economic operator has it"].values = [
        Value(ValueKind.INDICATOR, False)
    ]
    xml, losses = dume.convert(source, "4.1.0")
    report = validate(xml)
    assert report.valid, [str(issue) for issue in report.errors][:5]
    answers = answers_by_text(dume.read(xml).criterion(AUTHORISATION))
    assert answers["Your Answer"].indicator is False
    assert "Registration number" not in answers
    assert (
        answers["Reasons why your are not registered"]
        .first(ValueKind.DESCRIPTION)
        .startswith("Non renseigné dans le DUME d'origine")
    )
    assert any("« Registration number »" in loss and "l'inverse" in loss for loss in losses)
    # « Is one needed? » has no 4.x question: listed, like every answer that finds no place.
    assert any(AUTHORISATION_NAME in loss and "n'a pas d'équivalent" in loss for loss in losses)
