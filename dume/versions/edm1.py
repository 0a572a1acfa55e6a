"""ESPD-EDM 1.0.2 (2016–2017): its own ``ESPDRequest`` / ``ESPDResponse`` roots over UBL 2.1 and
the ISA CCV/CEV vocabularies. Criteria nest ``RequirementGroup``s whose ``Requirement``s carry
their ``Response`` inline; evidence is inline too. Read only.

The version marker is ``cbc:VersionID`` (« 1 », « 2016.11.01 »…); the roots' namespaces are
enough to tell the family.
"""

from __future__ import annotations

from lxml import etree

from dume.model import (
    Answer,
    Criterion,
    Document,
    DocumentKind,
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
from dume.versions import ubl
from dume.versions.ubl import (
    CAC,
    CBC,
    UblReader,
    _first,
    _get,
    _index,
    _path,
    _path_element,
    parse_date,
    typed_value,
    unit_of,
)

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


def detect(root: etree._Element) -> str | None:
    return "1.0.2" if root.tag in ROOTS else None


T_ESPD_OPERATOR = f"{{{ESPD_CAC}}}EconomicOperatorParty"
T_SME = f"{{{ESPD_CBC}}}SMEIndicator"
T_GROUP_NAME = f"{{{ESPD_CBC}}}EconomicOperatorGroupName"
T_NATURAL_PERSON = f"{{{ESPD_CAC}}}RepresentativeNaturalPerson"
T_PERSON_ROLE = f"{{{ESPD_CBC}}}NaturalPersonRoleDescription"
T_CRITERION = f"{{{CCV}}}Criterion"
T_TYPE_CODE = f"{{{CBC}}}TypeCode"
T_NAME = f"{{{CBC}}}Name"
T_VERSION = f"{{{CBC}}}VersionID"
T_PERIOD = f"{{{CAC}}}Period"
T_EVIDENCE = f"{{{CEV}}}Evidence"
T_EVIDENCE_REFERENCE = f"{{{CEV}}}EvidenceDocumentReference"


class Reader(UblReader):
    def read(self, root: etree._Element) -> Document:
        kind = ROOTS[root.tag]
        index = _index(root)
        contracting = _first(index, ubl.T_CONTRACTING_PARTY)
        document = Document(
            kind=kind,
            version="1.0.2",
            id=_get(index, T_ID),
            uuid=_get(index, ubl.T_UUID) or _get(index, T_ID),
            profile=_get(index, T_VERSION),
            issue_date=parse_date(_get(index, ubl.T_ISSUE_DATE), _first(index, ubl.T_ISSUE_DATE)),
            contract_folder_id=_get(index, ubl.T_CONTRACT_FOLDER),
            buyer=self.party(
                _path_element(contracting, (ubl.T_PARTY,)) if contracting is not None else None, Party
            ),
            lots=[text for lot in index.get(ubl.T_LOT, ()) if (text := _path(lot, T_ID))],
        )
        operator_element = _first(index, T_ESPD_OPERATOR)
        if operator_element is not None:
            operator_index = _index(operator_element)
            party = _first(operator_index, ubl.T_PARTY)
            operator = self.party(party, EconomicOperator) if party is not None else EconomicOperator()
            sme = _get(operator_index, T_SME)
            if sme is not None:
                operator.size = "sme" if sme.lower() == "true" else "large"
            operator.group_name = _get(index, T_GROUP_NAME)
            operator.role = "group-mem" if operator.group_name else None
            for person in operator_index.get(T_NATURAL_PERSON, ()):
                person_index = _index(person)
                power = _first(person_index, ubl.T_POWER_OF_ATTORNEY)
                representative = self.person(power) if power is not None else Person()
                role = _get(person_index, T_PERSON_ROLE)
                if role:
                    representative.capacity = " — ".join(filter(None, (role, representative.capacity)))
                operator.representatives.append(representative)
            document.economic_operator = operator
        evidence_ids: set[str] = set()
        for criterion_element in index.get(T_CRITERION, ()):
            document.criteria.append(self.criterion_1(criterion_element, document, evidence_ids))
        for element in index.get(ubl.T_DOCUMENT_REFERENCE, ()):
            reference = self.reference(element)
            if reference.type_code == "ESPD_REQUEST" and document.request is None:
                document.request = reference
            else:
                document.references.append(reference)
        return document

    def criterion_1(self, element: etree._Element, document: Document, evidence_ids: set[str]) -> Criterion:
        index = _index(element)
        criterion = Criterion(
            uuid=_get(index, T_ID) or "",
            type_code=_get(index, T_TYPE_CODE),
            name=_get(index, T_NAME),
            description=_get(index, T_DESCRIPTION),
            line=element.sourceline,
        )
        criterion.groups = [
            self.group_1(el, criterion, document, evidence_ids) for el in index.get(T_GROUP, ())
        ]
        return criterion

    def group_1(
        self, element: etree._Element, criterion: Criterion, document: Document, evidence_ids: set[str]
    ) -> PropertyGroup:
        # One pass over the children (the hot path: a full 1.0.2 response has ~600 groups).
        group_id = None
        properties = []
        subgroups = []
        answers = criterion.answers
        answer_1 = self.answer_1
        for child in element:
            tag = child.tag
            if tag == T_REQUIREMENT:
                prop_id = description = None
                responses = []
                for part in child:
                    part_tag = part.tag
                    if part_tag == T_ID:
                        if not prop_id:
                            text = part.text
                            prop_id = text.strip() if text else None
                    elif part_tag == T_DESCRIPTION:
                        if description is None:
                            text = part.text
                            description = (text.strip() or None) if text else None
                    elif part_tag == T_RESPONSE:
                        responses.append(part)
                prop = Property(prop_id or "", description, "QUESTION", child.get("responseDataType"))
                properties.append(prop)
                for response in responses:
                    answer = answer_1(response, prop, document, evidence_ids)
                    # 1.0.2 Requests may hold empty Response placeholders: they answer nothing.
                    if answer.values or answer.periods or answer.evidence_ids:
                        answers.append(answer)
            elif tag == T_GROUP:
                subgroups.append(child)
            elif tag == T_ID and not group_id:
                text = child.text
                group_id = text.strip() if text else None
        group = PropertyGroup(group_id or "", CONDITIONS.get(element.get("pi") or "", "ON*"), properties)
        group.groups = [self.group_1(el, criterion, document, evidence_ids) for el in subgroups]
        return group

    def answer_1(
        self, response: etree._Element, prop: Property, document: Document, evidence_ids: set[str]
    ) -> Answer:
        answer_id = None
        seen_id = False
        values = []
        periods = []
        linked = []
        for child in response:
            tag = child.tag
            kind = RESPONSE_VALUES.get(tag)
            if kind is not None:
                if tag == T_ID and not seen_id:
                    # The Response's own cbc:ID is its identifier (and, as in every version, read
                    # as an identifier value too).
                    seen_id = True
                    text = child.text
                    answer_id = (text.strip() or None) if text else None
                values.append(Value(kind, typed_value(kind, child), unit_of(kind, child)))
            elif tag == T_PERIOD:
                index = _index(child)
                periods.append(
                    Period(
                        start=parse_date(_get(index, ubl.T_START_DATE), child),
                        end=parse_date(_get(index, ubl.T_END_DATE), child),
                        description=_get(index, T_DESCRIPTION),
                    )
                )
            elif tag == T_EVIDENCE:
                for reference in child.iterchildren(T_EVIDENCE_REFERENCE):
                    evidence = Evidence(
                        id=_path(reference, T_ID) or f"EVIDENCE-{len(document.evidences) + 1}",
                        uri=_path(reference, ubl.T_ATTACHMENT, ubl.T_EXTERNAL_REFERENCE, ubl.T_URI),
                    )
                    if evidence.id not in evidence_ids:
                        evidence_ids.add(evidence.id)
                        document.evidences.append(evidence)
                    linked.append(evidence.id)
        return Answer(prop.id, values, periods, linked, [], answer_id, response.sourceline)


def read(root: etree._Element, version: str) -> Document:
    return Reader(version).read(root)
