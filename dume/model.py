"""One normalised model of an ESPD (DUME) document, whatever the ESPD-EDM version it came from.

Readers (``dume.versions.*``) build it, writers turn it back into XML, so that the platform
reasons about one shape only. Plain dataclasses, compared by value: reading back what a writer
wrote gives an equal object (the round-trip tests rely on it).

Vocabulary follows ESPD-EDM 4.1.0, the current version: roles are ``EoRoleType`` codes
(``sole-tenderer``, ``group-lead``…), sizes ``EconomicOperatorSize`` codes (``micro``…
``large``), identifier schemes ``EOIDType`` codes (``VAT``, ``NATIONAL``…), countries ISO 3166-1
alpha-2. Readers of older versions translate into it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from dume.countries import ALPHA3_TO_ALPHA2


class DocumentKind(StrEnum):
    REQUEST = "request"
    RESPONSE = "response"


class ValueKind(StrEnum):
    """What a response value (or an expected value set by the buyer) holds."""

    INDICATOR = "indicator"  # bool
    AMOUNT = "amount"  # Decimal, with a currency
    QUANTITY = "quantity"  # Decimal, with an optional unit
    NUMERIC = "numeric"  # Decimal (percentages, ratios, weights)
    DATE = "date"  # datetime.date
    TIME = "time"  # str, as written
    DESCRIPTION = "description"  # str
    CODE = "code"  # str
    IDENTIFIER = "identifier"  # str
    URI = "uri"  # str


SME_SIZES = frozenset({"sme", "micro", "small", "medium"})


def normalise_country(code: str | None) -> str | None:
    """ISO 3166-1 alpha-2 for an alpha-2 or alpha-3 code (EU usage « EL » is Greece, GR)."""
    if not code:
        return None
    code = code.strip().upper()
    if len(code) == 3:
        return ALPHA3_TO_ALPHA2.get(code, code)
    if code == "EL":
        return "GR"
    if code == "UK":
        return "GB"
    return code


@dataclass(slots=True)
class Identifier:
    value: str
    # EOIDType code (VAT, NATIONAL, LEI, DUNS, BRIS), or None when the document does not say.
    scheme: str | None = None

    @property
    def is_siret(self) -> bool:
        digits = self.value.replace(" ", "")
        return self.scheme in (None, "NATIONAL") and len(digits) == 14 and digits.isdigit()


@dataclass(slots=True)
class Address:
    street: str | None = None
    city: str | None = None
    postal_code: str | None = None
    country: str | None = None  # alpha-2


@dataclass(slots=True)
class Contact:
    name: str | None = None
    email: str | None = None
    telephone: str | None = None


@dataclass(slots=True)
class Party:
    name: str | None = None
    identifiers: list[Identifier] = field(default_factory=list)
    address: Address | None = None
    contact: Contact | None = None
    website: str | None = None

    @property
    def country(self) -> str | None:
        return self.address.country if self.address else None


@dataclass(slots=True)
class Person:
    """A representative of the economic operator (a natural person with a power of attorney)."""

    first_name: str | None = None
    family_name: str | None = None
    birth_date: dt.date | None = None
    birth_place: str | None = None
    email: str | None = None
    telephone: str | None = None
    address: Address | None = None
    # What the person may do (the power of attorney's description; 1.0.2 also has a role line).
    capacity: str | None = None


@dataclass(slots=True)
class EconomicOperator(Party):
    size: str | None = None  # EconomicOperatorSize code
    role: str | None = None  # EoRoleType code
    group_name: str | None = None  # the group (consortium) it belongs to, when the version says
    representatives: list[Person] = field(default_factory=list)
    relied_upon: list[EconomicOperator] = field(default_factory=list)

    @property
    def sme(self) -> bool | None:
        if self.size is None:
            return None
        return self.size in SME_SIZES

    @property
    def in_group(self) -> bool:
        return self.role in ("group-lead", "group-mem") or bool(self.group_name)


@dataclass(slots=True)
class Value:
    kind: ValueKind
    value: object  # bool, Decimal, date or str, per kind
    # AMOUNT: the currency; QUANTITY: the unit code; NUMERIC: the format; CODE: the code list as
    # "listID|listAgencyID|listVersionID".
    unit: str | None = None
    id: str | None = None


@dataclass(slots=True)
class Expected:
    """A value the buyer set on a requirement: a threshold, an expected code, a minimum…"""

    element: str  # ExpectedAmount, MinimumQuantity, ExpectedCode…
    value: object
    unit: str | None = None


@dataclass(slots=True)
class Period:
    start: dt.date | None = None
    end: dt.date | None = None
    description: str | None = None


@dataclass(slots=True)
class Answer:
    """One answer (a ``TenderingCriterionResponse``; in 1.0.2 a requirement's ``Response``)."""

    property_id: str  # the question it answers (ValidatedCriterionPropertyID)
    values: list[Value] = field(default_factory=list)
    periods: list[Period] = field(default_factory=list)
    evidence_ids: list[str] = field(default_factory=list)
    lots: list[str] = field(default_factory=list)  # 4.x: lots this answer covers
    id: str | None = None
    line: int | None = field(default=None, compare=False, repr=False)  # where it was read

    def first(self, kind: ValueKind) -> object | None:
        for value in self.values:
            if value.kind == kind:
                return value.value
        return None

    @property
    def indicator(self) -> bool | None:
        return self.first(ValueKind.INDICATOR)  # type: ignore[return-value]

    @property
    def amount(self) -> tuple[Decimal, str | None] | None:
        for value in self.values:
            if value.kind == ValueKind.AMOUNT:
                return value.value, value.unit  # type: ignore[return-value]
        return None


@dataclass(slots=True)
class Property:
    """A question, requirement or caption of a criterion."""

    id: str
    description: str | None = None
    type_code: str | None = None  # QUESTION, REQUIREMENT, CAPTION
    value_type: str | None = None  # ResponseDataType: INDICATOR, AMOUNT, PERIOD…
    name: str | None = None
    # What the buyer set (thresholds, expected codes, periods…).
    expected: list[Expected] = field(default_factory=list)
    periods: list[Period] = field(default_factory=list)


@dataclass(slots=True)
class PropertyGroup:
    id: str
    type_code: str | None = None  # ON*, ONTRUE, ONFALSE…
    properties: list[Property] = field(default_factory=list)
    groups: list[PropertyGroup] = field(default_factory=list)

    def walk(self):
        yield from self.properties
        for group in self.groups:
            yield from group.walk()


@dataclass(slots=True)
class Criterion:
    uuid: str
    type_code: str | None = None  # as written by its version (long codes up to 2.x, short from 3.x)
    name: str | None = None
    description: str | None = None
    lots: list[str] = field(default_factory=list)  # lots it applies to (4.x); empty: all
    groups: list[PropertyGroup] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    # 4.1.0 sub-criteria (C24, C34, C51–53…), each with its own groups and answers.
    subcriteria: list[Criterion] = field(default_factory=list)
    line: int | None = field(default=None, compare=False, repr=False)  # where it was read

    def properties(self) -> list[Property]:
        return [prop for group in self.groups for prop in group.walk()]

    def questions(self) -> list[Property]:
        return [prop for prop in self.properties() if prop.type_code in (None, "QUESTION")]

    @property
    def category(self) -> str:
        """``exclusion``, ``selection`` or ``other``, from the UUID (codes differ by version)."""
        from dume.criteria import category_of

        return category_of(self)


@dataclass(slots=True)
class Evidence:
    id: str
    uri: str | None = None
    description: str | None = None
    issuer: str | None = None
    issuer_id: str | None = None
    confidentiality: str | None = None
    reference_id: str | None = None


@dataclass(slots=True)
class DocumentReference:
    id: str | None = None
    type_code: str | None = None
    description: str | None = None
    issue_date: dt.date | None = None
    uri: str | None = None


@dataclass(slots=True)
class Document:
    kind: DocumentKind
    version: str  # ESPD-EDM version: "1.0.2", "2.1.1", "3.3.0", "4.1.0"…
    id: str | None = None
    uuid: str | None = None
    profile: str | None = None  # ProfileExecutionID, or the 2.x Basic/Extended type
    issue_date: dt.date | None = None
    contract_folder_id: str | None = None  # the procedure reference
    procedure_code: str | None = None
    project_description: str | None = None
    buyer: Party | None = None
    # A Request: the procedure's lots. A Response: the lots it answers for, one or several (the
    # answers say which of them each covers, ``Answer.lots``).
    lots: list[str] = field(default_factory=list)
    # A 4.x Response for several lots is filed under one group of lots (rule BR-LOT-10 allows one
    # ProcurementProjectLot; an eForms group id, GLO-…): its id. None for one lot, and in 2.x.
    lot_group: str | None = None
    economic_operator: EconomicOperator | None = None
    criteria: list[Criterion] = field(default_factory=list)
    evidences: list[Evidence] = field(default_factory=list)
    # A Response's link to its Request (AdditionalDocumentReference typed ESPD_REQUEST).
    request: DocumentReference | None = None
    # Other referenced documents (the contract notice in TED…).
    references: list[DocumentReference] = field(default_factory=list)
    # Answers whose question belongs to no criterion of the document.
    orphan_answers: list[Answer] = field(default_factory=list)

    def criterion(self, uuid: str) -> Criterion | None:
        for criterion in self.criteria:
            if criterion.uuid == uuid:
                return criterion
        return None
