"""What ESPD-EDM 2.x, 3.x and 4.x share: the UBL ``QualificationApplicationRequest/Response``.

2.x is built on UBL 2.2, 3.x and 4.x on UBL 2.3; the documents have the same skeleton. A version
family subclasses ``UblReader`` / ``UblWriter`` and overrides only what differs (codes, country
alpha-2 or alpha-3, per-lot answers, header attributes).
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid as uuidlib
from decimal import Decimal, InvalidOperation

from lxml import etree

from dume.errors import DumeError
from dume.model import (
    Address,
    Answer,
    Contact,
    Criterion,
    Document,
    DocumentKind,
    DocumentReference,
    EconomicOperator,
    Evidence,
    Expected,
    Identifier,
    Party,
    Period,
    Person,
    Property,
    PropertyGroup,
    Value,
    ValueKind,
    normalise_country,
)

CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
REQUEST_NS = "urn:oasis:names:specification:ubl:schema:xsd:QualificationApplicationRequest-2"
RESPONSE_NS = "urn:oasis:names:specification:ubl:schema:xsd:QualificationApplicationResponse-2"
REQUEST_ROOT = f"{{{REQUEST_NS}}}QualificationApplicationRequest"
RESPONSE_ROOT = f"{{{RESPONSE_NS}}}QualificationApplicationResponse"
NS = {"cac": CAC, "cbc": CBC}

REQUEST_REFERENCE_CODES = ("ESPD_REQUEST", "epo-acc-espd-request")

# ResponseValue's children in schema order, and what each holds.
RESPONSE_ELEMENTS = (
    ("Description", ValueKind.DESCRIPTION),
    ("ResponseAmount", ValueKind.AMOUNT),
    ("ResponseCode", ValueKind.CODE),
    ("ResponseDate", ValueKind.DATE),
    ("ResponseID", ValueKind.IDENTIFIER),
    ("ResponseIndicator", ValueKind.INDICATOR),
    ("ResponseNumeric", ValueKind.NUMERIC),
    ("ResponseQuantity", ValueKind.QUANTITY),
    ("ResponseTime", ValueKind.TIME),
    ("ResponseURI", ValueKind.URI),
)
ELEMENT_OF_KIND = {kind: name for name, kind in RESPONSE_ELEMENTS}
KIND_BY_TAG = {f"{{{CBC}}}{name}": kind for name, kind in RESPONSE_ELEMENTS}
KIND_OF_ELEMENT = dict(RESPONSE_ELEMENTS)

# TenderingCriterionProperty's expected values, in schema order.
EXPECTED_ELEMENTS = (
    ("ExpectedAmount", ValueKind.AMOUNT),
    ("ExpectedID", ValueKind.IDENTIFIER),
    ("ExpectedIndicator", ValueKind.INDICATOR),
    ("ExpectedCode", ValueKind.CODE),
    ("ExpectedValueNumeric", ValueKind.NUMERIC),
    ("ExpectedDescription", ValueKind.DESCRIPTION),
    ("ExpectedURI", ValueKind.URI),
    ("MaximumAmount", ValueKind.AMOUNT),
    ("MinimumAmount", ValueKind.AMOUNT),
    ("MaximumValueNumeric", ValueKind.NUMERIC),
    ("MinimumValueNumeric", ValueKind.NUMERIC),
    ("MaximumQuantity", ValueKind.QUANTITY),
    ("MinimumQuantity", ValueKind.QUANTITY),
)
EXPECTED_KIND = dict(EXPECTED_ELEMENTS)
EXPECTED_ORDER = [name for name, _kind in EXPECTED_ELEMENTS]
EXPECTED_BY_TAG = {f"{{{CBC}}}{name}": name for name, _kind in EXPECTED_ELEMENTS}

T_ID = f"{{{CBC}}}ID"
T_GROUP_TYPE = f"{{{CBC}}}PropertyGroupTypeCode"
T_PROPERTY = f"{{{CAC}}}TenderingCriterionProperty"
T_SUBGROUP = f"{{{CAC}}}SubsidiaryTenderingCriterionPropertyGroup"
T_PERIOD = f"{{{CAC}}}ApplicablePeriod"
T_RESPONSE_VALUE = f"{{{CAC}}}ResponseValue"
T_VALIDATED = f"{{{CBC}}}ValidatedCriterionPropertyID"
T_EVIDENCE_SUPPLIED = f"{{{CAC}}}EvidenceSupplied"
T_LOT_REFERENCE = f"{{{CAC}}}ProcurementProjectLotReference"
T_NAME = f"{{{CBC}}}Name"
T_DESCRIPTION = f"{{{CBC}}}Description"
T_TYPE_CODE = f"{{{CBC}}}TypeCode"
T_VALUE_TYPE = f"{{{CBC}}}ValueDataTypeCode"
T_UUID = f"{{{CBC}}}UUID"
T_ISSUE_DATE = f"{{{CBC}}}IssueDate"
T_CONTRACT_FOLDER = f"{{{CBC}}}ContractFolderID"
T_PROCEDURE_CODE = f"{{{CBC}}}ProcedureCode"
T_PROJECT = f"{{{CAC}}}ProcurementProject"
T_CONTRACTING_PARTY = f"{{{CAC}}}ContractingParty"
T_PARTY = f"{{{CAC}}}Party"
T_LOT = f"{{{CAC}}}ProcurementProjectLot"
T_OPERATOR_PARTY = f"{{{CAC}}}EconomicOperatorParty"
T_CRITERION = f"{{{CAC}}}TenderingCriterion"
T_SUBCRITERION = f"{{{CAC}}}SubTenderingCriterion"
T_PROPERTY_GROUP = f"{{{CAC}}}TenderingCriterionPropertyGroup"
T_CRITERION_TYPE = f"{{{CBC}}}CriterionTypeCode"
T_CRITERION_RESPONSE = f"{{{CAC}}}TenderingCriterionResponse"
T_DOCUMENT_REFERENCE = f"{{{CAC}}}AdditionalDocumentReference"
T_DOCUMENT_REFERENCE_ = f"{{{CAC}}}DocumentReference"
T_EVIDENCE = f"{{{CAC}}}Evidence"
T_COUNTRY = f"{{{CAC}}}Country"
T_IDENTIFICATION_CODE = f"{{{CBC}}}IdentificationCode"
T_STREET = f"{{{CBC}}}StreetName"
T_CITY = f"{{{CBC}}}CityName"
T_POSTAL_ZONE = f"{{{CBC}}}PostalZone"
T_EMAIL = f"{{{CBC}}}ElectronicMail"
T_TELEPHONE = f"{{{CBC}}}Telephone"
T_PARTY_IDENTIFICATION = f"{{{CAC}}}PartyIdentification"
T_PARTY_NAME = f"{{{CAC}}}PartyName"
T_POSTAL_ADDRESS = f"{{{CAC}}}PostalAddress"
T_CONTACT = f"{{{CAC}}}Contact"
T_WEBSITE = f"{{{CBC}}}WebsiteURI"
T_ROLE = f"{{{CAC}}}EconomicOperatorRole"
T_ROLE_CODE = f"{{{CBC}}}RoleCode"
T_INDUSTRY_CODE = f"{{{CBC}}}IndustryClassificationCode"
T_POWER_OF_ATTORNEY = f"{{{CAC}}}PowerOfAttorney"
T_AGENT_PARTY = f"{{{CAC}}}AgentParty"
T_PERSON = f"{{{CAC}}}Person"
T_FIRST_NAME = f"{{{CBC}}}FirstName"
T_FAMILY_NAME = f"{{{CBC}}}FamilyName"
T_BIRTH_DATE = f"{{{CBC}}}BirthDate"
T_BIRTH_PLACE = f"{{{CBC}}}BirthplaceName"
T_RESIDENCE_ADDRESS = f"{{{CAC}}}ResidenceAddress"
T_START_DATE = f"{{{CBC}}}StartDate"
T_END_DATE = f"{{{CBC}}}EndDate"
T_DOCUMENT_TYPE = f"{{{CBC}}}DocumentTypeCode"
T_DOCUMENT_DESCRIPTION = f"{{{CBC}}}DocumentDescription"
T_ATTACHMENT = f"{{{CAC}}}Attachment"
T_EXTERNAL_REFERENCE = f"{{{CAC}}}ExternalReference"
T_URI = f"{{{CBC}}}URI"
T_CONFIDENTIALITY = f"{{{CBC}}}ConfidentialityLevelCode"
T_ISSUER_PARTY = f"{{{CAC}}}IssuerParty"


@functools.cache
def clark(path: str) -> str:
    """``cac:A/cbc:B`` in Clark notation, ``{urn…}A/{urn…}B``: lxml finds those fastest."""
    steps = []
    for step in path.split("/"):
        prefix, _, name = step.rpartition(":")
        steps.append(f"{{{NS[prefix]}}}{name}" if prefix else name)
    return "/".join(steps)


def _text(element: etree._Element | None, path: str | None = None) -> str | None:
    if element is None:
        return None
    if path is not None:
        element = element.find(clark(path))
        if element is None:
            return None
    text = element.text
    if not text:
        return None
    return text.strip() or None


def _own_text(element: etree._Element) -> str | None:
    text = element.text
    if not text:
        return None
    return text.strip() or None


def _index(element: etree._Element) -> dict[str, list[etree._Element]]:
    """The element's children by tag, in document order: one pass over them, where a search per
    field (``find``, about 1.6 µs each in lxml) would walk them again and again."""
    index: dict[str, list[etree._Element]] = {}
    for child in element:
        tag = child.tag
        children = index.get(tag)
        if children is None:
            index[tag] = [child]
        else:
            children.append(child)
    return index


def _first(index: dict, tag: str) -> etree._Element | None:
    children = index.get(tag)
    return children[0] if children else None


def _get(index: dict, tag: str) -> str | None:
    """The stripped text of the first child ``tag`` (like ``_text(element, tag)``)."""
    children = index.get(tag)
    if not children:
        return None
    text = children[0].text
    if not text:
        return None
    return text.strip() or None


def _path(element: etree._Element | None, *tags: str) -> str | None:
    """The text at ``tags`` below ``element``, as ElementPath finds it (the first match in
    document order, looking through every child of each step)."""
    if element is None:
        return None
    if not tags:
        return _own_text(element)
    head, rest = tags[0], tags[1:]
    for child in element.iterchildren(head):
        if not rest:
            return _own_text(child)
        found = _path_element(child, rest)
        if found is not None:
            return _own_text(found)
    return None


def _path_element(element: etree._Element, tags: tuple[str, ...]) -> etree._Element | None:
    head, rest = tags[0], tags[1:]
    for child in element.iterchildren(head):
        if not rest:
            return child
        found = _path_element(child, rest)
        if found is not None:
            return found
    return None


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def parse_date(text: str | None, element: etree._Element | None = None) -> dt.date | None:
    if not text:
        return None
    # xs:date may carry a zone (2019-11-21+01:00); the model keeps the calendar date.
    try:
        return dt.date.fromisoformat(text[:10])
    except ValueError as exc:
        raise _invalid(element, f"date invalide « {text} » (attendu AAAA-MM-JJ)") from exc


def parse_decimal(text: str | None, element: etree._Element | None = None) -> Decimal | None:
    if text is None:
        return None
    try:
        return Decimal(text)
    except InvalidOperation as exc:
        raise _invalid(element, f"nombre invalide « {text} »") from exc


def parse_bool(text: str | None, element: etree._Element | None = None) -> bool | None:
    if text is None:
        return None
    lowered = text.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise _invalid(element, f"indicateur invalide « {text} » (attendu true ou false)")


def _invalid(element: etree._Element | None, message: str) -> DumeError:
    if element is None:
        return DumeError(message[0].upper() + message[1:] + ".")
    return DumeError(message[0].upper() + message[1:] + ".", line=element.sourceline, element=_local(element))


def typed_value(kind: ValueKind, element: etree._Element):
    text = _text(element)
    if kind == ValueKind.INDICATOR:
        return parse_bool(text, element)
    if kind in (ValueKind.AMOUNT, ValueKind.QUANTITY, ValueKind.NUMERIC):
        return parse_decimal(text, element)
    if kind == ValueKind.DATE:
        return parse_date(text, element)
    return text


def unit_of(kind: ValueKind, element: etree._Element) -> str | None:
    if kind == ValueKind.AMOUNT:
        return element.get("currencyID")
    if kind == ValueKind.QUANTITY:
        return element.get("unitCode")
    if kind == ValueKind.NUMERIC:
        return element.get("format")
    if kind == ValueKind.CODE and element.get("listID"):
        # The code list, losslessly: "listID|listAgencyID|listVersionID".
        return "|".join(element.get(name) or "" for name in ("listID", "listAgencyID", "listVersionID"))
    return None


_INDICATOR = ValueKind.INDICATOR
_DESCRIPTION = ValueKind.DESCRIPTION
_NUMBERS = (ValueKind.AMOUNT, ValueKind.QUANTITY, ValueKind.NUMERIC)


def read_value(kind: ValueKind, element: etree._Element, value_id: str | None = None) -> Value:
    """``typed_value`` and ``unit_of`` in one call (the answers' hot path)."""
    text = element.text
    if text:
        text = text.strip() or None
    if kind is _INDICATOR:
        return Value(kind, parse_bool(text, element), None, value_id)
    if kind is _DESCRIPTION:
        return Value(kind, text, None, value_id)
    if kind in _NUMBERS:
        return Value(kind, parse_decimal(text, element), unit_of(kind, element), value_id)
    if kind is ValueKind.DATE:
        return Value(kind, parse_date(text, element), None, value_id)
    return Value(kind, text, unit_of(kind, element), value_id)


class UblReader:
    """Reads a UBL QualificationApplication document into the model."""

    version = ""
    lot_groups = False  # 4.x: a Response may name a group of lots (see _grouped_lots)

    def __init__(self, version: str):
        self.version = version

    # Hooks a version family overrides.
    def role(self, code: str | None) -> str | None:
        return code

    def size(self, code: str | None) -> str | None:
        return code.lower() if code else None

    def scheme(self, identifier: etree._Element) -> str | None:
        scheme = (identifier.get("schemeID") or "").strip().upper()
        if not scheme:
            return None
        # 1.0.2 wrote VAT_NUMBER / NATIONAL_NUMBER where EOIDType now says VAT / NATIONAL.
        return {"VAT_NUMBER": "VAT", "NATIONAL_NUMBER": "NATIONAL"}.get(scheme, scheme)

    def profile(self, root: etree._Element) -> str | None:
        return _text(root, "cbc:ProfileExecutionID") or _text(root, "cbc:QualificationApplicationTypeCode")

    # The document.
    def read(self, root: etree._Element) -> Document:
        kind = DocumentKind.REQUEST if root.tag == REQUEST_ROOT else DocumentKind.RESPONSE
        index = _index(root)
        project = _first(index, T_PROJECT)
        contracting = _first(index, T_CONTRACTING_PARTY)
        document = Document(
            kind=kind,
            version=self.version,
            id=_get(index, T_ID),
            uuid=_get(index, T_UUID),
            profile=self.profile(root),
            issue_date=parse_date(_get(index, T_ISSUE_DATE), _first(index, T_ISSUE_DATE)),
            contract_folder_id=_get(index, T_CONTRACT_FOLDER),
            procedure_code=_get(index, T_PROCEDURE_CODE),
            project_description=_path(project, T_DESCRIPTION) if project is not None else None,
            buyer=self.party(
                _path_element(contracting, (T_PARTY,)) if contracting is not None else None, Party
            ),
            lots=[text for lot in index.get(T_LOT, ()) if (text := _path(lot, T_ID))],
        )
        operators = [self.economic_operator(el) for el in index.get(T_OPERATOR_PARTY, ())]
        main = [op for op in operators if op.role != "oeron"]
        if main:
            document.economic_operator = main[0]
            document.economic_operator.relied_upon = [op for op in operators if op.role == "oeron"]
        elif operators:
            document.economic_operator = EconomicOperator(relied_upon=operators)
        document.criteria = [self.criterion(el) for el in index.get(T_CRITERION, ())]
        owners: dict[str, Criterion] = {}
        for criterion in document.criteria:
            for owner in _with_subcriteria(criterion):
                pending = list(owner.groups)
                while pending:
                    group = pending.pop()
                    for prop in group.properties:
                        owners.setdefault(prop.id, owner)
                    pending.extend(group.groups)
        answer = self.answer
        orphans = document.orphan_answers
        for element in index.get(T_CRITERION_RESPONSE, ()):
            read_answer = answer(element)
            owner = owners.get(read_answer.property_id)
            (owner.answers if owner else orphans).append(read_answer)
        if kind == DocumentKind.RESPONSE and self.lot_groups:
            _grouped_lots(document)
        for element in index.get(T_DOCUMENT_REFERENCE, ()):
            reference = self.reference(element)
            if reference.type_code in REQUEST_REFERENCE_CODES and document.request is None:
                document.request = reference
            else:
                document.references.append(reference)
        document.evidences = [self.evidence(el) for el in index.get(T_EVIDENCE, ())]
        return document

    def address(self, element: etree._Element | None) -> Address | None:
        if element is None:
            return None
        index = _index(element)
        country = _first(index, T_COUNTRY)
        return Address(
            street=_get(index, T_STREET),
            city=_get(index, T_CITY),
            postal_code=_get(index, T_POSTAL_ZONE),
            country=normalise_country(_path(country, T_IDENTIFICATION_CODE) if country is not None else None),
        )

    def contact(self, element: etree._Element | None) -> Contact | None:
        if element is None:
            return None
        index = _index(element)
        contact = Contact(
            name=_get(index, T_NAME),
            email=_get(index, T_EMAIL),
            telephone=_get(index, T_TELEPHONE),
        )
        return contact if (contact.name or contact.email or contact.telephone) else None

    def party(self, element: etree._Element | None, cls=Party, index: dict | None = None):
        if element is None:
            return None
        if index is None:
            index = _index(element)
        identifiers = []
        for identification in index.get(T_PARTY_IDENTIFICATION, ()):
            for el in identification.iterchildren(T_ID):
                text = _own_text(el)
                if text:
                    identifiers.append(Identifier(value=text, scheme=self.scheme(el)))
        name = None
        for party_name in index.get(T_PARTY_NAME, ()):
            found = next(party_name.iterchildren(T_NAME), None)
            if found is not None:
                name = _own_text(found)
                break
        return cls(
            name=name,
            identifiers=identifiers,
            address=self.address(_first(index, T_POSTAL_ADDRESS)),
            contact=self.contact(_first(index, T_CONTACT)),
            website=_get(index, T_WEBSITE),
        )

    def economic_operator(self, element: etree._Element) -> EconomicOperator:
        party = next(element.iterchildren(T_PARTY), None)
        index = _index(party) if party is not None else {}
        operator = self.party(party, EconomicOperator, index) if party is not None else EconomicOperator()
        operator.role = self.role(_path(element, T_ROLE, T_ROLE_CODE))
        if party is not None:
            operator.size = self.size(_get(index, T_INDUSTRY_CODE))
            operator.representatives = [self.person(power) for power in index.get(T_POWER_OF_ATTORNEY, ())]
        return operator

    def person(self, power: etree._Element) -> Person:
        person = _path_element(power, (T_AGENT_PARTY, T_PERSON))
        capacity = _path(power, T_DESCRIPTION)
        if person is None:
            return Person(capacity=capacity)
        index = _index(person)
        contact = _first(index, T_CONTACT)
        return Person(
            first_name=_get(index, T_FIRST_NAME),
            family_name=_get(index, T_FAMILY_NAME),
            birth_date=parse_date(_get(index, T_BIRTH_DATE), _first(index, T_BIRTH_DATE)),
            birth_place=_get(index, T_BIRTH_PLACE),
            email=_path(contact, T_EMAIL) if contact is not None else None,
            telephone=_path(contact, T_TELEPHONE) if contact is not None else None,
            address=self.address(_first(index, T_RESIDENCE_ADDRESS)),
            capacity=capacity,
        )

    def criterion(self, element: etree._Element) -> Criterion:
        index = _index(element)
        uuid = _get(index, T_ID)
        if not uuid:
            raise _invalid(element, "critère sans identifiant (cbc:ID)")
        group = self.group
        return Criterion(
            uuid=uuid,
            type_code=_get(index, T_CRITERION_TYPE),
            name=_get(index, T_NAME),
            description=_get(index, T_DESCRIPTION),
            lots=[text for ref in index.get(T_LOT_REFERENCE, ()) if (text := _path(ref, T_ID))],
            groups=[group(el) for el in index.get(T_PROPERTY_GROUP, ())],
            subcriteria=[self.criterion(el) for el in index.get(T_SUBCRITERION, ())],
            line=element.sourceline,
        )

    # The three hot paths (a 4.1.0 Response has thousands of properties and answers) walk each
    # element's children once instead of searching them per field, keep what they find in locals
    # and build each dataclass once, at the end (benchmarks/dume.py measures them).
    def group(self, element: etree._Element) -> PropertyGroup:
        group_id = type_code = None
        properties = []
        groups = []
        prop = self.property
        for child in element:
            tag = child.tag
            if tag == T_PROPERTY:
                properties.append(prop(child))
            elif tag == T_SUBGROUP:
                groups.append(self.group(child))
            elif tag == T_ID:
                if not group_id:
                    text = child.text
                    group_id = text.strip() if text else None
            elif tag == T_GROUP_TYPE and type_code is None:
                text = child.text
                type_code = (text.strip() or None) if text else None
        return PropertyGroup(group_id or "", type_code, properties, groups)

    def property(self, element: etree._Element) -> Property:
        # Each field takes the first child of its name with a non-blank text.
        prop_id = name = description = type_code = value_type = None
        expected = []
        periods = []
        for child in element:
            tag = child.tag
            if tag == T_ID:
                if not prop_id:
                    text = child.text
                    prop_id = text.strip() if text else None
            elif tag == T_DESCRIPTION:
                if not description:
                    text = child.text
                    description = (text.strip() or None) if text else None
            elif tag == T_TYPE_CODE:
                if not type_code:
                    text = child.text
                    type_code = (text.strip() or None) if text else None
            elif tag == T_VALUE_TYPE:
                if not value_type:
                    text = child.text
                    value_type = (text.strip() or None) if text else None
            elif tag == T_NAME:
                if not name:
                    text = child.text
                    name = (text.strip() or None) if text else None
            elif tag == T_PERIOD:
                periods.append(self.period(child))
            else:
                expected_name = EXPECTED_BY_TAG.get(tag)
                if expected_name is not None:
                    kind = EXPECTED_KIND[expected_name]
                    expected.append(Expected(expected_name, typed_value(kind, child), unit_of(kind, child)))
        return Property(prop_id or "", description, type_code, value_type, name, expected, periods)

    def period(self, element: etree._Element) -> Period:
        index = _index(element)
        return Period(
            start=parse_date(_get(index, T_START_DATE), _first(index, T_START_DATE)),
            end=parse_date(_get(index, T_END_DATE), _first(index, T_END_DATE)),
            description=_get(index, T_DESCRIPTION),
        )

    def answer(self, element: etree._Element) -> Answer:
        property_id = answer_id = None
        seen_id = False
        values = []
        periods = []
        evidence_ids = []
        lots = []
        for child in element:
            tag = child.tag
            if tag == T_RESPONSE_VALUE:
                value_id = None
                for part in child:
                    part_tag = part.tag
                    if part_tag == T_ID:
                        value_id = _own_text(part)
                        continue
                    kind = KIND_BY_TAG.get(part_tag)
                    if kind is not None:
                        values.append(read_value(kind, part, value_id))
            elif tag == T_VALIDATED:
                if not property_id:
                    property_id = _own_text(child)
            elif tag == T_ID:
                if not seen_id:
                    seen_id = True
                    answer_id = _own_text(child)
            elif tag == T_PERIOD:
                periods.append(self.period(child))
            elif tag == T_EVIDENCE_SUPPLIED:
                evidence_ids.extend(t for el in child.iterchildren(T_ID) if (t := _own_text(el)))
            elif tag == T_LOT_REFERENCE:
                lots.extend(t for el in child.iterchildren(T_ID) if (t := _own_text(el)))
        if not property_id:
            raise _invalid(element, "réponse sans question associée (cbc:ValidatedCriterionPropertyID)")
        return Answer(property_id, values, periods, evidence_ids, lots, answer_id, element.sourceline)

    def reference(self, element: etree._Element) -> DocumentReference:
        index = _index(element)
        return DocumentReference(
            id=_get(index, T_ID),
            type_code=_get(index, T_DOCUMENT_TYPE),
            description=_get(index, T_DOCUMENT_DESCRIPTION),
            issue_date=parse_date(_get(index, T_ISSUE_DATE), _first(index, T_ISSUE_DATE)),
            uri=_path(element, T_ATTACHMENT, T_EXTERNAL_REFERENCE, T_URI),
        )

    def evidence(self, element: etree._Element) -> Evidence:
        index = _index(element)
        evidence = Evidence(
            id=_get(index, T_ID) or "",
            description=_get(index, T_DESCRIPTION),
            confidentiality=_get(index, T_CONFIDENTIALITY),
        )
        reference = _first(index, T_DOCUMENT_REFERENCE_)
        if reference is not None:
            index = _index(reference)
            evidence.reference_id = _get(index, T_ID)
            attachment = _first(index, T_ATTACHMENT)
            if attachment is not None:
                evidence.uri = _path(attachment, T_EXTERNAL_REFERENCE, T_URI)
            issuer = _first(index, T_ISSUER_PARTY)
            if issuer is not None:
                issuer_index = _index(issuer)
                name = _first(issuer_index, T_PARTY_NAME)
                identification = _first(issuer_index, T_PARTY_IDENTIFICATION)
                evidence.issuer = _path(name, T_NAME) if name is not None else None
                evidence.issuer_id = _path(identification, T_ID) if identification is not None else None
        return evidence


def _grouped_lots(document: Document) -> None:
    """A 4.x Response names one ProcurementProjectLot (rule BR-LOT-10): its lot, or the group of
    lots it answers for, whose lots its answers then name. The one id is a group when the
    answers name lots and it is none of them."""
    if len(document.lots) != 1:
        return
    answered = list(
        dict.fromkeys(
            lot for criterion in all_criteria(document) for a in criterion.answers for lot in a.lots
        )
    )
    if answered and document.lots[0] not in answered:
        document.lot_group = document.lots[0]
        document.lots = answered


def _with_subcriteria(criterion: Criterion):
    yield criterion
    for sub in criterion.subcriteria:
        yield from _with_subcriteria(sub)


def all_criteria(document: Document):
    for criterion in document.criteria:
        yield from _with_subcriteria(criterion)


class UblWriter:
    """Writes the model as a UBL QualificationApplication document of one version."""

    version = ""
    ubl_version = ""
    agency = "OP"  # schemeAgencyID of the identifiers this platform assigns
    alpha3 = False  # countries as alpha-3 (3.x and later) or alpha-2
    answer_lots = False  # may a response carry ProcurementProjectLotReference?
    criterion_lots = False
    property_name = False  # 4.x writes an (empty) cbc:Name in every property
    single_lot_response = False  # 4.1.0: a Response names exactly one lot (BR-LOT-10)
    role_required = False  # 4.1.0: the economic operator's role is mandatory (BR-RESP-10)

    def __init__(self):
        self._root: etree._Element | None = None

    def el(self, parent, prefix: str, name: str, text=None, **attrs) -> etree._Element:
        ns = CBC if prefix == "cbc" else CAC
        element = etree.SubElement(parent, f"{{{ns}}}{name}")
        for key, value in attrs.items():
            if value is not None:
                element.set(key, str(value))
        if text is not None:
            element.text = text if isinstance(text, str) else _format(text)
        return element

    def opt(self, parent, prefix: str, name: str, text, **attrs):
        if text is None or text == "":
            return None
        return self.el(parent, prefix, name, text, **attrs)

    # Hooks.
    def header(self, root, document: Document) -> None:
        raise NotImplementedError

    def country_code(self, code: str) -> str:
        return code

    def role_code(self, role: str | None) -> str | None:
        return role

    def size_code(self, size: str | None) -> str | None:
        return size

    def code_attrs(self, list_name: str) -> dict:
        return {}

    def id_attrs(self) -> dict:
        return {"schemeID": "Criterion", "schemeAgencyID": self.agency, "schemeVersionID": self.version}

    # The document.
    def write(self, document: Document) -> bytes:
        is_request = document.kind == DocumentKind.REQUEST
        ns = REQUEST_NS if is_request else RESPONSE_NS
        root_name = "QualificationApplicationRequest" if is_request else "QualificationApplicationResponse"
        root = etree.Element(f"{{{ns}}}{root_name}", nsmap={None: ns, "cac": CAC, "cbc": CBC})
        self.header(root, document)
        self.contracting_party(root, document.buyer)
        if not is_request and document.economic_operator is not None:
            operator = document.economic_operator
            self.economic_operator(root, operator)
            for relied in operator.relied_upon:
                self.economic_operator(root, relied, role="oeron")
        if document.project_description:
            project = self.el(root, "cac", "ProcurementProject")
            self.el(project, "cbc", "Description", document.project_description)
        for lot in self.header_lots(document):
            self.el(self.el(root, "cac", "ProcurementProjectLot"), "cbc", "ID", lot, **self.id_attrs())
        for criterion in document.criteria:
            self.criterion(root, criterion, "TenderingCriterion")
        if not is_request:
            # In a Response for several lots, an answer that names none covers them all.
            every_lot = document.lots if self.answer_lots and len(document.lots) > 1 else []
            for criterion in document.criteria:
                for owner in _with_subcriteria(criterion):
                    for answer in owner.answers:
                        self.answer(root, answer, every_lot)
            for answer in document.orphan_answers:
                self.answer(root, answer)
        if document.request is not None:
            self.reference(root, document.request)
        for reference in document.references:
            self.reference(root, reference)
        if not is_request:
            for evidence in document.evidences:
                self.evidence(root, evidence)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)

    def address(self, parent, name: str, address: Address | None) -> None:
        if address is None:
            return
        element = self.el(parent, "cac", name)
        self.opt(element, "cbc", "StreetName", address.street)
        self.opt(element, "cbc", "CityName", address.city)
        self.opt(element, "cbc", "PostalZone", address.postal_code)
        if address.country:
            country = self.el(element, "cac", "Country")
            self.el(
                country,
                "cbc",
                "IdentificationCode",
                self.country_code(address.country),
                **self.code_attrs("country"),
            )

    def party(self, parent, party: Party, *, size: str | None = None, people=()) -> etree._Element:
        element = self.el(parent, "cac", "Party")
        self.opt(element, "cbc", "WebsiteURI", party.website)
        if size:
            self.el(
                element, "cbc", "IndustryClassificationCode", self.size_code(size), **self.code_attrs("size")
            )
        for identifier in party.identifiers:
            self.el(
                self.el(element, "cac", "PartyIdentification"),
                "cbc",
                "ID",
                identifier.value,
                schemeID=identifier.scheme,
                schemeAgencyID=self.agency,
            )
        if party.name is not None:
            self.el(self.el(element, "cac", "PartyName"), "cbc", "Name", party.name)
        self.address(element, "PostalAddress", party.address)
        if party.contact is not None:
            contact = self.el(element, "cac", "Contact")
            self.opt(contact, "cbc", "Name", party.contact.name)
            self.opt(contact, "cbc", "Telephone", party.contact.telephone)
            self.opt(contact, "cbc", "ElectronicMail", party.contact.email)
        for person in people:
            self.power_of_attorney(element, person)
        return element

    def contracting_party(self, root, buyer: Party | None) -> None:
        element = self.el(root, "cac", "ContractingParty")
        self.party(element, buyer or Party())

    def economic_operator(self, root, operator: EconomicOperator, role: str | None = None) -> None:
        element = self.el(root, "cac", "EconomicOperatorParty")
        code = self.role_code(role or operator.role)
        if code:
            self.el(
                self.el(element, "cac", "EconomicOperatorRole"),
                "cbc",
                "RoleCode",
                code,
                **self.code_attrs("role"),
            )
        self.party(element, operator, size=operator.size, people=operator.representatives)

    def power_of_attorney(self, parent, person: Person) -> None:
        power = self.el(parent, "cac", "PowerOfAttorney")
        self.opt(power, "cbc", "Description", person.capacity)
        agent = self.el(power, "cac", "AgentParty")
        element = self.el(agent, "cac", "Person")
        self.opt(element, "cbc", "FirstName", person.first_name)
        self.opt(element, "cbc", "FamilyName", person.family_name)
        self.opt(element, "cbc", "BirthDate", person.birth_date)
        self.opt(element, "cbc", "BirthplaceName", person.birth_place)
        if person.email or person.telephone:
            contact = self.el(element, "cac", "Contact")
            self.opt(contact, "cbc", "Telephone", person.telephone)
            self.opt(contact, "cbc", "ElectronicMail", person.email)
        self.address(element, "ResidenceAddress", person.address)

    def criterion(self, parent, criterion: Criterion, name: str) -> None:
        element = self.el(parent, "cac", name)
        self.el(element, "cbc", "ID", criterion.uuid, **self.criterion_id_attrs())
        self.opt(element, "cbc", "CriterionTypeCode", criterion.type_code, **self.code_attrs("criterion"))
        self.opt(element, "cbc", "Name", criterion.name)
        self.opt(element, "cbc", "Description", criterion.description)
        if self.criterion_lots:
            for lot in criterion.lots:
                self.el(
                    self.el(element, "cac", "ProcurementProjectLotReference"),
                    "cbc",
                    "ID",
                    lot,
                    **self.id_attrs(),
                )
        for sub in criterion.subcriteria:
            self.criterion(element, sub, "SubTenderingCriterion")
        for group in criterion.groups:
            self.group(element, group, "TenderingCriterionPropertyGroup")

    def criterion_id_attrs(self) -> dict:
        return self.id_attrs()

    def group(self, parent, group: PropertyGroup, name: str) -> None:
        element = self.el(parent, "cac", name)
        self.el(element, "cbc", "ID", group.id, **self.id_attrs())
        self.opt(
            element, "cbc", "PropertyGroupTypeCode", group.type_code, **self.code_attrs("property-group")
        )
        for prop in group.properties:
            self.property(element, prop)
        for sub in group.groups:
            self.group(element, sub, "SubsidiaryTenderingCriterionPropertyGroup")

    def property(self, parent, prop: Property) -> None:
        element = self.el(parent, "cac", "TenderingCriterionProperty")
        self.el(element, "cbc", "ID", prop.id, **self.id_attrs())
        if self.property_name or prop.name:
            self.el(element, "cbc", "Name", prop.name or "")
        if self.property_name:  # 4.x: the description is mandatory (BR-TC-19), even empty
            self.el(element, "cbc", "Description", prop.description or "")
        else:
            self.opt(element, "cbc", "Description", prop.description)
        self.opt(element, "cbc", "TypeCode", prop.type_code, **self.code_attrs("element-type"))
        self.opt(element, "cbc", "ValueDataTypeCode", prop.value_type, **self.code_attrs("data-type"))
        for expected in sorted(prop.expected, key=lambda e: EXPECTED_ORDER.index(e.element)):
            self.typed(
                element, expected.element, EXPECTED_KIND[expected.element], expected.value, expected.unit
            )
        for period in prop.periods:
            self.period(element, period)

    def typed(self, parent, name: str, kind: ValueKind, value, unit: str | None) -> None:
        attrs = {}
        if kind == ValueKind.AMOUNT:
            attrs["currencyID"] = unit or "EUR"
        elif kind == ValueKind.QUANTITY:
            attrs["unitCode"] = unit
        elif kind == ValueKind.NUMERIC:
            attrs["format"] = unit
        elif kind == ValueKind.CODE:
            if unit:
                list_id, agency, list_version = ([*unit.split("|"), "", ""])[:3]
                attrs.update(listID=list_id, listAgencyID=agency or None, listVersionID=list_version or None)
            else:
                attrs.update(self.code_attrs("response-code"))
        elif kind == ValueKind.IDENTIFIER:
            attrs["schemeAgencyID"] = self.agency
        self.el(parent, "cbc", name, value, **attrs)

    def period(self, parent, period: Period) -> None:
        element = self.el(parent, "cac", "ApplicablePeriod")
        self.opt(element, "cbc", "StartDate", period.start)
        self.opt(element, "cbc", "EndDate", period.end)
        self.opt(element, "cbc", "Description", period.description)

    def header_lots(self, document: Document) -> list[str]:
        """The ProcurementProjectLot ids: a Request's lots; a Response's lots, or in a version
        whose Response names one lot (4.1.0, BR-LOT-10), its lot or its group of lots."""
        if document.kind == DocumentKind.REQUEST or not self.single_lot_response:
            return document.lots
        if document.lot_group:
            return [document.lot_group]
        if len(document.lots) > 1:
            raise DumeError(
                f"Une réponse ESPD-EDM {self.version} pour plusieurs lots ({', '.join(document.lots)}) "
                "les regroupe sous un groupe de lots (règle BR-LOT-10) : indiquer ce groupe (lot_group)."
            )
        return document.lots

    def answer(self, root, answer: Answer, every_lot: list[str] = ()) -> None:
        element = self.el(root, "cac", "TenderingCriterionResponse")
        self.el(element, "cbc", "ID", answer.id or str(uuidlib.uuid4()), **self.response_id_attrs())
        self.el(
            element, "cbc", "ValidatedCriterionPropertyID", answer.property_id, **self.response_id_attrs()
        )
        for value_id, values in _grouped(answer.values):
            response = self.el(element, "cac", "ResponseValue")
            self.el(response, "cbc", "ID", value_id or str(uuidlib.uuid4()), **self.response_id_attrs())
            for value in sorted(values, key=lambda v: list(ELEMENT_OF_KIND).index(v.kind)):
                self.typed(response, ELEMENT_OF_KIND[value.kind], value.kind, value.value, value.unit)
        for period in answer.periods:
            self.period(element, period)
        for evidence_id in answer.evidence_ids:
            self.el(
                self.el(element, "cac", "EvidenceSupplied"),
                "cbc",
                "ID",
                evidence_id,
                schemeAgencyID=self.agency,
            )
        if self.answer_lots:
            for lot in answer.lots or every_lot:
                self.el(
                    self.el(element, "cac", "ProcurementProjectLotReference"),
                    "cbc",
                    "ID",
                    lot,
                    **self.id_attrs(),
                )

    def response_id_attrs(self) -> dict:
        return self.id_attrs()

    def reference(self, root, reference: DocumentReference) -> None:
        element = self.el(root, "cac", "AdditionalDocumentReference")
        self.el(element, "cbc", "ID", reference.id or "", schemeAgencyID=self.agency)
        self.opt(element, "cbc", "IssueDate", reference.issue_date)
        self.opt(element, "cbc", "DocumentTypeCode", reference.type_code, **self.code_attrs("docref"))
        self.opt(element, "cbc", "DocumentDescription", reference.description)
        if reference.uri:
            attachment = self.el(element, "cac", "Attachment")
            self.el(self.el(attachment, "cac", "ExternalReference"), "cbc", "URI", reference.uri)

    def evidence(self, root, evidence: Evidence) -> None:
        element = self.el(root, "cac", "Evidence")
        self.el(element, "cbc", "ID", evidence.id, schemeAgencyID=self.agency)
        self.opt(element, "cbc", "Description", evidence.description)
        self.opt(
            element,
            "cbc",
            "ConfidentialityLevelCode",
            evidence.confidentiality,
            **self.code_attrs("access-right"),
        )
        if evidence.reference_id or evidence.uri or evidence.issuer or evidence.issuer_id:
            reference = self.el(element, "cac", "DocumentReference")
            self.el(reference, "cbc", "ID", evidence.reference_id or evidence.id, schemeAgencyID=self.agency)
            if evidence.uri:
                attachment = self.el(reference, "cac", "Attachment")
                self.el(self.el(attachment, "cac", "ExternalReference"), "cbc", "URI", evidence.uri)
            if evidence.issuer or evidence.issuer_id:
                issuer = self.el(reference, "cac", "IssuerParty")
                if evidence.issuer_id:
                    identification = self.el(issuer, "cac", "PartyIdentification")
                    self.el(identification, "cbc", "ID", evidence.issuer_id, schemeAgencyID=self.agency)
                if evidence.issuer:
                    self.el(self.el(issuer, "cac", "PartyName"), "cbc", "Name", evidence.issuer)


def _grouped(values: list[Value]):
    groups: list[tuple[str | None, list[Value]]] = []
    for value in values:
        if groups and value.id is not None and groups[-1][0] == value.id:
            groups[-1][1].append(value)
        else:
            groups.append((value.id, [value]))
    return groups


def _format(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)
