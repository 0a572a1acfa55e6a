"""Every official example under dume/standards is read, and its key fields are what it says."""

import datetime as dt
from decimal import Decimal

import pytest

import dume
from dume.model import DocumentKind, ValueKind

from .conftest import SAMPLES_102, SAMPLES_211, SAMPLES_410, STANDARDS


def test_every_official_example_is_found():
    assert len(SAMPLES_102) == 18
    assert len(SAMPLES_211) == 4
    assert len(SAMPLES_410) == 3


@pytest.mark.parametrize("path", SAMPLES_102 + SAMPLES_211 + SAMPLES_410, ids=lambda p: p.name)
def test_every_official_example_reads_with_its_procedure_and_criteria(path):
    document = dume.read(path)
    expected_kind = (
        DocumentKind.REQUEST if "equest" in path.name or "criterion" in path.name else DocumentKind.RESPONSE
    )
    if path.parent.name in ("requests", "responses") or path.parent.parent.name == "responses":
        expected_kind = DocumentKind.REQUEST if "requests" in path.parts else DocumentKind.RESPONSE
    assert document.kind == expected_kind
    assert document.contract_folder_id
    assert document.buyer is not None
    assert document.criteria, "every official example carries criteria"
    assert all(criterion.uuid for criterion in document.criteria)
    if document.kind == DocumentKind.REQUEST and document.version != "1.0.2":
        # (1.0.2's award-criteria Request carries the buyer's MEETS code as a Response.)
        assert not any(criterion.answers for criterion in document.criteria)


def test_2_1_1_basic_response_key_fields():
    document = dume.read(STANDARDS / "edm-2.1.1/xml/BASIC-ESPDResponse-2.1.1.xml")
    assert (document.kind, document.version, document.profile) == (DocumentKind.RESPONSE, "2.1.1", "Basic")
    assert document.id == "ESPDREQ-DGPE-baacb6795d"
    assert document.uuid == "5ec1123c-894d-41db-a34a-0ba378a34b94"
    assert document.contract_folder_id == "PP.20170419.1024-9"
    assert document.issue_date == dt.date(2019, 11, 21)
    assert document.procedure_code == "AWARD_WO_PUB"
    assert (document.buyer.name, document.buyer.country) == ("__ProcurerName", "AD")
    operator = document.economic_operator
    assert (operator.name, operator.country, operator.size, operator.sme) == ("__EoName", "DE", "sme", True)
    assert [i.value for i in operator.identifiers] == ["DE153301871"]
    assert len(operator.representatives) == 1
    assert len(document.criteria) == 65
    assert sum(len(c.answers) for c in document.criteria) == 320
    assert not document.orphan_answers
    crime = document.criterion("005eb9ed-1347-4ca3-bb29-9bc0db64e1ab")
    assert crime.type_code == "CRITERION.EXCLUSION.CONVICTIONS.PARTICIPATION_IN_CRIMINAL_ORGANISATION"
    assert crime.category == "exclusion"
    assert crime.answers[0].indicator is True
    turnover = document.criterion("499efc97-2ac1-4af2-9e84-323c2ca67747")
    assert turnover.category == "selection"
    amounts = [a.amount for a in turnover.answers if a.amount]
    assert amounts
    assert all(currency for _value, currency in amounts)
    assert [e.id for e in document.evidences] == ["EVIDENCE-00001"]
    assert document.evidences[0].issuer == "USA DoD"


def test_2_1_1_extended_response_role_and_lots():
    document = dume.read(STANDARDS / "edm-2.1.1/xml/EXTENDED-ESPDResponse-2.1.1.xml")
    assert document.profile == "Extended"
    assert document.lots == ["Lot1", "Lot2"]
    # 2.x role GM is normalised to the 4.x code.
    assert document.economic_operator.role == "group-mem"
    assert document.economic_operator.in_group


def test_4_1_0_response_key_fields():
    document = dume.read(STANDARDS / "edm-4.1.0/xml-examples/ESPD-Response.xml")
    assert (document.kind, document.version, document.profile) == (
        DocumentKind.RESPONSE,
        "4.1.0",
        "ESPD-EDMv4.1.0",
    )
    assert document.uuid == "f662457f-3e7a-46d2-a515-33c5a64bb7ba"
    assert document.procedure_code == "Open"
    # 4.x writes alpha-3 countries; the model holds alpha-2.
    assert document.buyer.country == "BE"
    assert document.economic_operator.country == "BE"
    assert document.economic_operator.role == "group-mem"
    assert document.economic_operator.size == "sme"
    assert document.lots == ["LOT-0000"]
    assert len(document.criteria) == 62
    assert sum(len(c.answers) for c in document.criteria) == 393
    crime = document.criterion("005eb9ed-1347-4ca3-bb29-9bc0db64e1ab")
    assert crime.type_code == "crime-org"
    first = crime.answers[0]
    assert (first.property_id, first.indicator) == ("C1_EG_crime-org/QG1/Q1", True)
    answered_lots = {lot for c in document.criteria for a in c.answers for lot in a.lots}
    assert answered_lots == {"LOT-0000"}
    turnover = document.criterion("499efc97-2ac1-4af2-9e84-323c2ca67747")
    assert (Decimal(1000000000), "EUR") in [a.amount for a in turnover.answers if a.amount]
    assert len(document.evidences) == 76
    assert (document.evidences[0].issuer, document.evidences[0].issuer_id) == ("USA DoD", "XXXXXXXX")
    linked = {eid for c in document.criteria for a in c.answers for eid in a.evidence_ids}
    assert linked <= {e.id for e in document.evidences}


def test_4_1_0_request_has_lot_requirements():
    document = dume.read(STANDARDS / "edm-4.1.0/xml-examples/ESPD-Request.xml")
    assert document.kind == DocumentKind.REQUEST
    assert any(criterion.lots == ["LOT-0000"] for criterion in document.criteria)
    expected = [e for c in document.criteria for p in c.properties() for e in p.expected]
    assert any(e.element == "ExpectedCode" and e.unit for e in expected)


def test_1_0_2_full_response_key_fields():
    document = dume.read(STANDARDS / "edm-1.0.2/examples/responses/v20161101/espd-response-20161101-full.xml")
    assert (document.kind, document.version, document.profile) == (
        DocumentKind.RESPONSE,
        "1.0.2",
        "2016.11.01",
    )
    assert document.contract_folder_id == "SMART 2015/0065"
    assert (document.buyer.name, document.buyer.country) == ("Royal procurer", "IT")
    operator = document.economic_operator
    assert operator.name == "Ben larbi"
    assert operator.sme is True
    assert operator.group_name == "Hodor consortium"
    assert operator.in_group
    assert (operator.representatives[0].first_name, operator.representatives[0].family_name) == (
        "Keith",
        "Sweat",
    )
    assert operator.representatives[0].birth_date == dt.date(1965, 9, 28)
    assert document.request.id == "c821c012-a5aa-49de-8cd4-8e2efd978af3"
    assert document.request.type_code == "ESPD_REQUEST"
    assert len(document.criteria) == 62
    kinds = {v.kind for c in document.criteria for a in c.answers for v in a.values}
    assert {ValueKind.INDICATOR, ValueKind.AMOUNT, ValueKind.DATE, ValueKind.DESCRIPTION} <= kinds
    assert document.evidences, "1.0.2's inline evidence becomes the document's evidence list"


def test_1_0_2_identifier_schemes_are_normalised():
    document = dume.read(
        STANDARDS / "edm-1.0.2/examples/responses/response_eo_party_only_vat_number_scheme_id.xml"
    )
    assert ("BE0999999999", "VAT") in [(i.value, i.scheme) for i in document.economic_operator.identifiers]
