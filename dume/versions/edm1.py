"""ESPD-EDM 1.0.2 (2016–2017): its own ``ESPDRequest`` / ``ESPDResponse`` roots over UBL 2.1 and
the ISA CCV/CEV vocabularies. Criteria nest ``RequirementGroup``s whose ``Requirement``s carry
their ``Response`` inline; evidence is inline too. Read only.

The version marker is ``cbc:VersionID`` (« 1 », « 2016.11.01 »…); the roots' namespaces are
enough to tell the family.
"""

from __future__ import annotations

import functools

from lxml import etree

from dume.model import (
    Answer,
    Criterion,
    Document,
    DocumentKind,
    DocumentReference,
    EconomicOperator,
    Evidence,
    Party,
    Period,
    Person,
    Property,
    PropertyGroup,
    Value,
    ValueKind,
)
from dume.versions.ubl import CAC, CBC, UblReader, parse_date, typed_value, unit_of

FAMILY = "1.0.2"
WRITES: tuple[str, ...] = ()

REQUEST_NS = "urn:grow:names:specification:ubl:schema:xsd:ESPDRequest-1"
RESPONSE_NS = "urn:grow:names:specification:ubl:schema:xsd:ESPDResponse-1"
ESPD_CAC = "urn:grow:names:specification:ubl:schema:xsd:ESPD-CommonAggregateComponents-1"
ESPD_CBC = "urn:grow:names:specification:ubl:schema:xsd:ESPD-CommonBasicComponents-1"
CCV = "urn:isa:names:specification:ubl:schema:xsd:CCV-CommonAggregateComponents-1"
CCV_CBC = "urn:isa:names:specification:ubl:schema:xsd:CCV-CommonBasicComponents-1"
CEV = "urn:isa:names:specification:ubl:schema:xsd:CEV-CommonAggregateComponents-1"
NS = {
    "cac": CAC,
    "cbc": CBC,
    "espd-cac": ESPD_CAC,
    "espd-cbc": ESPD_CBC,
    "ccv": CCV,
    "ccv-cbc": CCV_CBC,
    "cev": CEV,
}
ROOTS = {
    f"{{{REQUEST_NS}}}ESPDRequest": DocumentKind.REQUEST,
    f"{{{RESPONSE_NS}}}ESPDResponse": DocumentKind.RESPONSE,
}

# Response children → value kinds (1.0.2 spreads them over cbc: and ccv-cbc:).
RESPONSE_VALUES = {
    f"{{{CCV_CBC}}}Indicator": ValueKind.INDICATOR,
    f"{{{CCV_CBC}}}Code": ValueKind.CODE,
    f"{{{CBC}}}Amount": ValueKind.AMOUNT,
    f"{{{CBC}}}Quantity": ValueKind.QUANTITY,
    f"{{{CBC}}}Percent": ValueKind.NUMERIC,
    f"{{{CBC}}}Date": ValueKind.DATE,
    f"{{{CBC}}}Description": ValueKind.DESCRIPTION,
    f"{{{CBC}}}ID": ValueKind.IDENTIFIER,
}
# 1.0.2 group conditions (``pi`` attribute) in 2.x+ PropertyGroupType codes.
CONDITIONS = {"GROUP_FULFILLED.ON_TRUE": "ONTRUE", "GROUP_FULFILLED.ON_FALSE": "ONFALSE"}


T_ID = f"{{{CBC}}}ID"
T_DESCRIPTION = f"{{{CBC}}}Description"
T_REQUIREMENT = f"{{{CCV}}}Requirement"
T_RESPONSE = f"{{{CCV}}}Response"
T_GROUP = f"{{{CCV}}}RequirementGroup"


def _own(element) -> str | None:
    text = element.text
    if not text:
        return None
    return text.strip() or None


def detect(root: etree._Element) -> str | None:
    return "1.0.2" if root.tag in ROOTS else None


def _text(element, path=None):
    if element is None:
        return None
    if path is not None:
        element = element.find(_clark(path))
        if element is None:
            return None
    return _own(element)


@functools.cache
def _clark(path: str) -> str:
    steps = []
    for step in path.split("/"):
        prefix, _, name = step.rpartition(":")
        steps.append(f"{{{NS[prefix]}}}{name}" if prefix else name)
    return "/".join(steps)


class Reader(UblReader):
    def read(self, root: etree._Element) -> Document:
        kind = ROOTS[root.tag]
        document = Document(
            kind=kind,
            version="1.0.2",
            id=_text(root, "cbc:ID"),
            uuid=_text(root, "cbc:UUID") or _text(root, "cbc:ID"),
            profile=_text(root, "cbc:VersionID"),
            issue_date=parse_date(_text(root, "cbc:IssueDate"), root.find("cbc:IssueDate", NS)),
            contract_folder_id=_text(root, "cbc:ContractFolderID"),
            buyer=self.party(root.find("cac:ContractingParty/cac:Party", NS), Party),
            lots=[t for el in root.findall("cac:ProcurementProjectLot/cbc:ID", NS) if (t := _text(el))],
        )
        operator_element = root.find("espd-cac:EconomicOperatorParty", NS)
        if operator_element is not None:
            party = operator_element.find("cac:Party", NS)
            operator = self.party(party, EconomicOperator) if party is not None else EconomicOperator()
            sme = _text(operator_element, "espd-cbc:SMEIndicator")
            if sme is not None:
                operator.size = "sme" if sme.lower() == "true" else "large"
            operator.group_name = _text(root, "espd-cbc:EconomicOperatorGroupName")
            operator.role = "group-mem" if operator.group_name else None
            for person in operator_element.findall("espd-cac:RepresentativeNaturalPerson", NS):
                power = person.find("cac:PowerOfAttorney", NS)
                representative = self.person(power) if power is not None else Person()
                role = _text(person, "espd-cbc:NaturalPersonRoleDescription")
                if role:
                    representative.capacity = " — ".join(filter(None, (role, representative.capacity)))
                operator.representatives.append(representative)
            document.economic_operator = operator
        for criterion_element in root.findall("ccv:Criterion", NS):
            document.criteria.append(self.criterion_1(criterion_element, document))
        for element in root.findall("cac:AdditionalDocumentReference", NS):
            reference = DocumentReference(
                id=_text(element, "cbc:ID"),
                type_code=_text(element, "cbc:DocumentTypeCode"),
                description=_text(element, "cbc:DocumentDescription"),
                issue_date=parse_date(_text(element, "cbc:IssueDate"), element.find("cbc:IssueDate", NS)),
                uri=_text(element, "cac:Attachment/cac:ExternalReference/cbc:URI"),
            )
            if reference.type_code == "ESPD_REQUEST" and document.request is None:
                document.request = reference
            else:
                document.references.append(reference)
        return document

    def criterion_1(self, element: etree._Element, document: Document) -> Criterion:
        criterion = Criterion(
            uuid=_text(element, "cbc:ID") or "",
            type_code=_text(element, "cbc:TypeCode"),
            name=_text(element, "cbc:Name"),
            description=_text(element, "cbc:Description"),
            line=element.sourceline,
        )
        criterion.groups = [
            self.group_1(el, criterion, document) for el in element.findall("ccv:RequirementGroup", NS)
        ]
        return criterion

    def group_1(self, element: etree._Element, criterion: Criterion, document: Document) -> PropertyGroup:
        # One pass over the children (the hot path: a full 1.0.2 response has ~600 groups).
        group = PropertyGroup(id="", type_code=CONDITIONS.get(element.get("pi") or "", "ON*"))
        subgroups = []
        for child in element:
            tag = child.tag
            if tag == T_REQUIREMENT:
                prop = Property(id="", type_code="QUESTION", value_type=child.get("responseDataType"))
                responses = []
                for part in child:
                    part_tag = part.tag
                    if part_tag == T_ID and not prop.id:
                        prop.id = _own(part) or ""
                    elif part_tag == T_DESCRIPTION and prop.description is None:
                        prop.description = _own(part)
                    elif part_tag == T_RESPONSE:
                        responses.append(part)
                group.properties.append(prop)
                for response in responses:
                    answer = self.answer_1(response, prop, document)
                    # 1.0.2 Requests may hold empty Response placeholders: they answer nothing.
                    if answer.values or answer.periods or answer.evidence_ids:
                        criterion.answers.append(answer)
            elif tag == T_GROUP:
                subgroups.append(child)
            elif tag == T_ID and not group.id:
                group.id = _own(child) or ""
        group.groups = [self.group_1(el, criterion, document) for el in subgroups]
        return group

    def answer_1(self, response: etree._Element, prop: Property, document: Document) -> Answer:
        answer = Answer(property_id=prop.id, id=_text(response, "cbc:ID"), line=response.sourceline)
        for child in response:
            if not isinstance(child.tag, str):
                continue
            kind = RESPONSE_VALUES.get(child.tag)
            if kind is not None:
                answer.values.append(
                    Value(kind=kind, value=typed_value(kind, child), unit=unit_of(kind, child))
                )
            elif child.tag == f"{{{CAC}}}Period":
                answer.periods.append(
                    Period(
                        start=parse_date(_text(child, "cbc:StartDate"), child),
                        end=parse_date(_text(child, "cbc:EndDate"), child),
                        description=_text(child, "cbc:Description"),
                    )
                )
            elif child.tag == f"{{{CEV}}}Evidence":
                for reference in child.findall("cev:EvidenceDocumentReference", NS):
                    evidence = Evidence(
                        id=_text(reference, "cbc:ID") or f"EVIDENCE-{len(document.evidences) + 1}",
                        uri=_text(reference, "cac:Attachment/cac:ExternalReference/cbc:URI"),
                    )
                    if not any(e.id == evidence.id for e in document.evidences):
                        document.evidences.append(evidence)
                    answer.evidence_ids.append(evidence.id)
        return answer


def read(root: etree._Element, version: str) -> Document:
    return Reader(version).read(root)
