"""The key fields of every official example, read by ``dume.read`` and, independently, by XPath
over the same file: each example's own values, not just « no exception »."""

import datetime as dt

import pytest
from lxml import etree

import dume
from dume.model import DocumentKind, normalise_country
from dume.versions import edm1

from .conftest import SAMPLES_102, SAMPLES_211, SAMPLES_410

UBL = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
ALL = {**UBL, **edm1.NS}


def xpath_fields(path):
    """What the file says, by XPath, in the model's terms (the oracle: no code shared with dume)."""
    root = etree.parse(str(path)).getroot()

    def one(expression):
        found = [" ".join(text.split()) for text in root.xpath(expression, namespaces=ALL)]
        return found[0] if found and found[0] else None

    legacy = root.tag in edm1.ROOTS
    fields = {
        "kind": DocumentKind.REQUEST if root.tag.endswith("Request") else DocumentKind.RESPONSE,
        "id": one("cbc:ID/text()"),
        "uuid": one("cbc:UUID/text()") or (one("cbc:ID/text()") if legacy else None),
        "contract_folder_id": one("cbc:ContractFolderID/text()"),
        "issue_date": (one("cbc:IssueDate/text()") or "")[:10] or None,  # the calendar date
        "buyer": one("cac:ContractingParty/cac:Party/cac:PartyName/cbc:Name/text()"),
        "buyer_country": normalise_country(
            one("cac:ContractingParty/cac:Party/cac:PostalAddress/cac:Country/cbc:IdentificationCode/text()")
        ),
        "lots": [
            " ".join(t.split()) for t in root.xpath("cac:ProcurementProjectLot/cbc:ID/text()", namespaces=ALL)
        ],
    }
    if legacy:
        fields["criteria"] = root.xpath("ccv:Criterion/cbc:ID/text()", namespaces=ALL)
        fields["operator"] = one("espd-cac:EconomicOperatorParty/cac:Party/cac:PartyName/cbc:Name/text()")
        # A Response element answers when it holds a value, a period or evidence (Requests carry
        # empty placeholders).
        fields["answers"] = int(
            root.xpath("count(.//ccv:Response[*[not(self::cbc:ID)] or cbc:ID])", namespaces=ALL)
        )
        fields["request"] = one(
            "cac:AdditionalDocumentReference[cbc:DocumentTypeCode='ESPD_REQUEST']/cbc:ID/text()"
        )
    else:
        fields["criteria"] = root.xpath("cac:TenderingCriterion/cbc:ID/text()", namespaces=ALL)
        fields["operator"] = one(
            "cac:EconomicOperatorParty[not(cac:EconomicOperatorRole/cbc:RoleCode = 'oeron' or "
            "cac:EconomicOperatorRole/cbc:RoleCode = 'OERON')][1]/cac:Party/cac:PartyName/cbc:Name/text()"
        )
        fields["answers"] = int(root.xpath("count(cac:TenderingCriterionResponse)", namespaces=ALL))
        fields["request"] = one(
            "cac:AdditionalDocumentReference[cbc:DocumentTypeCode='ESPD_REQUEST' or "
            "cbc:DocumentTypeCode='epo-acc-espd-request'][1]/cbc:ID/text()"
        )
    return fields


def model_fields(document):
    operator = document.economic_operator
    answers = [a for c in document.criteria for sub in [c, *c.subcriteria] for a in sub.answers]
    return {
        "kind": document.kind,
        "id": document.id,
        "uuid": document.uuid,
        "contract_folder_id": document.contract_folder_id,
        "issue_date": document.issue_date.isoformat() if document.issue_date else None,
        "buyer": document.buyer.name if document.buyer else None,
        "buyer_country": document.buyer.country if document.buyer else None,
        "lots": document.lots,
        "criteria": [c.uuid for c in document.criteria],
        "operator": operator.name if operator else None,
        "answers": len(answers) + len(document.orphan_answers),
        "request": document.request.id if document.request else None,
    }


@pytest.mark.parametrize("path", SAMPLES_102 + SAMPLES_211 + SAMPLES_410, ids=lambda p: p.name)
def test_every_official_example_reads_what_its_xml_says(path):
    document = dume.read(path)
    expected = xpath_fields(path)
    assert model_fields(document) == expected
    # And every example says something: a procedure, dated, with criteria.
    assert expected["contract_folder_id"]
    assert dt.date.fromisoformat(expected["issue_date"][:10])
    assert expected["criteria"]
    if expected["kind"] == DocumentKind.RESPONSE:
        assert document.economic_operator is not None  # (the « minimal » imports name no one)
