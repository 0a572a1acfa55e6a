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
PROPERTY_FIELDS = {
    T_ID: "id",
    f"{{{CBC}}}Name": "name",
    f"{{{CBC}}}Description": "description",
    f"{{{CBC}}}TypeCode": "type_code",
    f"{{{CBC}}}ValueDataTypeCode": "value_type",
}


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


def _texts(element: etree._Element, path: str) -> list[str]:
    return [text for child in element.iterfind(clark(path)) if (text := _text(child))]


def _own_text(element: etree._Element) -> str | None:
    text = element.text
    if not text:
        return None
    return text.strip() or None


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


class UblReader:
    """Reads a UBL QualificationApplication document into the model."""

    version = ""

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
        document = Document(
            kind=kind,
            version=self.version,
            id=_text(root, "cbc:ID"),
            uuid=_text(root, "cbc:UUID"),
            profile=self.profile(root),
            issue_date=parse_date(_text(root, "cbc:IssueDate"), root.find(clark("cbc:IssueDate"))),
            contract_folder_id=_text(root, "cbc:ContractFolderID"),
            procedure_code=_text(root, "cbc:ProcedureCode"),
            project_description=_text(root, "cac:ProcurementProject/cbc:Description"),
            buyer=self.party(root.find(clark("cac:ContractingParty/cac:Party")), Party),
            lots=_texts(root, "cac:ProcurementProjectLot/cbc:ID"),
        )
        operators = [self.economic_operator(el) for el in root.iterfind(clark("cac:EconomicOperatorParty"))]
        main = [op for op in operators if op.role != "oeron"]
        if main:
            document.economic_operator = main[0]
            document.economic_operator.relied_upon = [op for op in operators if op.role == "oeron"]
        elif operators:
            document.economic_operator = EconomicOperator(relied_upon=operators)
        document.criteria = [self.criterion(el) for el in root.iterfind(clark("cac:TenderingCriterion"))]
        owners = {}
        for criterion in document.criteria:
            for owner in _with_subcriteria(criterion):
                for prop in owner.properties():
                    owners.setdefault(prop.id, owner)
        for element in root.iterfind(clark("cac:TenderingCriterionResponse")):
            answer = self.answer(element)
            owner = owners.get(answer.property_id)
            (owner.answers if owner else document.orphan_answers).append(answer)
        for element in root.iterfind(clark("cac:AdditionalDocumentReference")):
            reference = self.reference(element)
            if reference.type_code in REQUEST_REFERENCE_CODES and document.request is None:
                document.request = reference
            else:
                document.references.append(reference)
        document.evidences = [self.evidence(el) for el in root.iterfind(clark("cac:Evidence"))]
        return document

    def address(self, element: etree._Element | None) -> Address | None:
        if element is None:
            return None
        return Address(
            street=_text(element, "cbc:StreetName"),
            city=_text(element, "cbc:CityName"),
            postal_code=_text(element, "cbc:PostalZone"),
            country=normalise_country(_text(element, "cac:Country/cbc:IdentificationCode")),
        )

    def contact(self, element: etree._Element | None) -> Contact | None:
        if element is None:
            return None
        contact = Contact(
            name=_text(element, "cbc:Name"),
            email=_text(element, "cbc:ElectronicMail"),
            telephone=_text(element, "cbc:Telephone"),
        )
        return contact if (contact.name or contact.email or contact.telephone) else None

    def party(self, element: etree._Element | None, cls=Party):
        if element is None:
            return None
        return cls(
            name=_text(element, "cac:PartyName/cbc:Name"),
            identifiers=[
                Identifier(value=text, scheme=self.scheme(el))
                for el in element.iterfind(clark("cac:PartyIdentification/cbc:ID"))
                if (text := _text(el))
            ],
            address=self.address(element.find(clark("cac:PostalAddress"))),
            contact=self.contact(element.find(clark("cac:Contact"))),
            website=_text(element, "cbc:WebsiteURI"),
        )

    def economic_operator(self, element: etree._Element) -> EconomicOperator:
        party = element.find(clark("cac:Party"))
        operator = self.party(party, EconomicOperator) if party is not None else EconomicOperator()
        operator.role = self.role(_text(element, "cac:EconomicOperatorRole/cbc:RoleCode"))
        if party is not None:
            operator.size = self.size(_text(party, "cbc:IndustryClassificationCode"))
            operator.representatives = [
                self.person(power) for power in party.iterfind(clark("cac:PowerOfAttorney"))
            ]
        return operator

    def person(self, power: etree._Element) -> Person:
        person = power.find(clark("cac:AgentParty/cac:Person"))
        if person is None:
            return Person(capacity=_text(power, "cbc:Description"))
        return Person(
            first_name=_text(person, "cbc:FirstName"),
            family_name=_text(person, "cbc:FamilyName"),
            birth_date=parse_date(_text(person, "cbc:BirthDate"), person.find(clark("cbc:BirthDate"))),
            birth_place=_text(person, "cbc:BirthplaceName"),
            email=_text(person, "cac:Contact/cbc:ElectronicMail"),
            telephone=_text(person, "cac:Contact/cbc:Telephone"),
            address=self.address(person.find(clark("cac:ResidenceAddress"))),
            capacity=_text(power, "cbc:Description"),
        )

    def criterion(self, element: etree._Element) -> Criterion:
        uuid = _text(element, "cbc:ID")
        if not uuid:
            raise _invalid(element, "critère sans identifiant (cbc:ID)")
        return Criterion(
            uuid=uuid,
            type_code=_text(element, "cbc:CriterionTypeCode"),
            name=_text(element, "cbc:Name"),
            description=_text(element, "cbc:Description"),
            lots=_texts(element, "cac:ProcurementProjectLotReference/cbc:ID"),
            groups=[self.group(el) for el in element.iterfind(clark("cac:TenderingCriterionPropertyGroup"))],
            subcriteria=[self.criterion(el) for el in element.iterfind(clark("cac:SubTenderingCriterion"))],
            line=element.sourceline,
        )

    # The three hot paths (a 4.1.0 Response has thousands of properties and answers) walk each
    # element's children once instead of searching them per field.
    def group(self, element: etree._Element) -> PropertyGroup:
        group = PropertyGroup(id="")
        for child in element:
            tag = child.tag
            if tag == T_PROPERTY:
                group.properties.append(self.property(child))
            elif tag == T_SUBGROUP:
                group.groups.append(self.group(child))
            elif tag == T_ID and not group.id:
                group.id = _own_text(child) or ""
            elif tag == T_GROUP_TYPE and group.type_code is None:
                group.type_code = _own_text(child)
        return group

    def property(self, element: etree._Element) -> Property:
        prop = Property(id="")
        for child in element:
            tag = child.tag
            field_name = PROPERTY_FIELDS.get(tag)
            if field_name is not None:
                if getattr(prop, field_name) in (None, ""):
                    setattr(prop, field_name, _own_text(child) or ("" if field_name == "id" else None))
                continue
            if tag == T_PERIOD:
                prop.periods.append(self.period(child))
                continue
            name = EXPECTED_BY_TAG.get(tag)
            if name is not None:
                kind = EXPECTED_KIND[name]
                prop.expected.append(
                    Expected(element=name, value=typed_value(kind, child), unit=unit_of(kind, child))
                )
        return prop

    def period(self, element: etree._Element) -> Period:
        return Period(
            start=parse_date(_text(element, "cbc:StartDate"), element.find(clark("cbc:StartDate"))),
            end=parse_date(_text(element, "cbc:EndDate"), element.find(clark("cbc:EndDate"))),
            description=_text(element, "cbc:Description"),
        )

    def answer(self, element: etree._Element) -> Answer:
        answer = Answer(property_id="", line=element.sourceline)
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
                        answer.values.append(
                            Value(
                                kind=kind,
                                value=typed_value(kind, part),
                                unit=unit_of(kind, part),
                                id=value_id,
                            )
                        )
            elif tag == T_VALIDATED and not answer.property_id:
                answer.property_id = _own_text(child) or ""
            elif tag == T_ID and answer.id is None:
                answer.id = _own_text(child)
            elif tag == T_PERIOD:
                answer.periods.append(self.period(child))
            elif tag == T_EVIDENCE_SUPPLIED:
                answer.evidence_ids.extend(_texts(child, "cbc:ID"))
            elif tag == T_LOT_REFERENCE:
                answer.lots.extend(_texts(child, "cbc:ID"))
        if not answer.property_id:
            raise _invalid(element, "réponse sans question associée (cbc:ValidatedCriterionPropertyID)")
        return answer

    def reference(self, element: etree._Element) -> DocumentReference:
        return DocumentReference(
            id=_text(element, "cbc:ID"),
            type_code=_text(element, "cbc:DocumentTypeCode"),
            description=_text(element, "cbc:DocumentDescription"),
            issue_date=parse_date(_text(element, "cbc:IssueDate"), element.find(clark("cbc:IssueDate"))),
            uri=_text(element, "cac:Attachment/cac:ExternalReference/cbc:URI"),
        )

    def evidence(self, element: etree._Element) -> Evidence:
        reference = element.find(clark("cac:DocumentReference"))
        return Evidence(
            id=_text(element, "cbc:ID") or "",
            description=_text(element, "cbc:Description"),
            confidentiality=_text(element, "cbc:ConfidentialityLevelCode"),
            reference_id=_text(reference, "cbc:ID"),
            uri=_text(reference, "cac:Attachment/cac:ExternalReference/cbc:URI"),
            issuer=_text(reference, "cac:IssuerParty/cac:PartyName/cbc:Name"),
            issuer_id=_text(reference, "cac:IssuerParty/cac:PartyIdentification/cbc:ID"),
        )


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
        for lot in document.lots:
            self.el(self.el(root, "cac", "ProcurementProjectLot"), "cbc", "ID", lot, **self.id_attrs())
        for criterion in document.criteria:
            self.criterion(root, criterion, "TenderingCriterion")
        if not is_request:
            for criterion in document.criteria:
                for owner in _with_subcriteria(criterion):
                    for answer in owner.answers:
                        self.answer(root, answer)
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

    def answer(self, root, answer: Answer) -> None:
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
            for lot in answer.lots:
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
