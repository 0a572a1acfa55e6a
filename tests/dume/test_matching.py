"""A Response checked against its Request: another procedure, another Request, missing answers."""

import copy

import dume

from .conftest import STANDARDS

REQUEST = STANDARDS / "edm-4.1.0/xml-examples/ESPD-Request.xml"
RESPONSE = STANDARDS / "edm-4.1.0/xml-examples/ESPD-Response.xml"


def test_the_official_response_matches_the_official_request():
    assert dume.check_response(dume.read(RESPONSE), dume.read(REQUEST)) == []


def test_a_response_for_another_procedure_is_a_warning():
    response = dume.read(RESPONSE)
    response.contract_folder_id = "AUTRE-2026-001"
    issues = dume.check_response(response, dume.read(REQUEST))
    assert [(i.severity, i.element) for i in issues] == [("warning", "ContractFolderID")]
    assert "autre procédure" in str(issues[0])


def test_a_response_to_another_request_is_a_warning():
    response = dume.read(RESPONSE)
    request = dume.read(REQUEST)
    response.request = dume.model.DocumentReference(
        id="00000000-0000-4000-8000-000000000000", type_code="ESPD_REQUEST"
    )
    issues = dume.check_response(response, request)
    assert [i.element for i in issues] == ["AdditionalDocumentReference"]


def test_a_missing_mandatory_answer_names_the_criterion_and_its_line():
    response = dume.read(RESPONSE)
    crime = response.criterion("005eb9ed-1347-4ca3-bb29-9bc0db64e1ab")
    crime.answers = []
    issues = dume.check_response(response, dume.read(REQUEST))
    assert len(issues) == 1
    assert "Réponse manquante au critère « Participation in a criminal organisation »" in str(issues[0])
    assert issues[0].line == 83  # <cac:TenderingCriterion> of the criminal-organisation ground


def test_a_lot_left_unanswered_is_named():
    response = dume.read(RESPONSE)
    response.lots = ["LOT-0000", "LOT-0001"]  # a Response for two lots, answering only the first
    request = dume.read(REQUEST)
    required = next(c for c in request.criteria if c.lots)
    request = copy.deepcopy(request)
    next(c for c in request.criteria if c.uuid == required.uuid).lots = ["LOT-0000", "LOT-0001"]
    issues = dume.check_response(response, request)
    assert any("LOT-0001" in str(issue) and "LOT-0000" not in str(issue) for issue in issues)


def test_a_single_lot_response_is_checked_for_its_lot_only():
    response = dume.read(RESPONSE)  # for LOT-0000
    request = dume.read(REQUEST)
    for criterion in request.criteria:
        if criterion.lots:
            criterion.lots = ["LOT-0000", "LOT-0001"]
    assert dume.check_response(response, request) == []
