"""ESPD-EDM 2.0.x and 2.1.x: UBL 2.2, UUID ids, long criterion codes, alpha-2 countries.

Read: every 2.x document. Written: 2.1.1 (BASIC profile), the version most national services
(including the French DUME) exchange.
"""

from __future__ import annotations

import datetime as dt
import re

from lxml import etree

from dume.model import Document, DocumentKind
from dume.versions.ubl import UblReader, UblWriter, _text

FAMILY = "2.x"
WRITES = ("2.1.1",)
_PROFILE = re.compile(r"^ESPD-EDMv(2\.\d+\.\d+)")
_VERSION = re.compile(r"^2\.\d+\.\d+$")

# 2.x roles (EORoleType) in 4.x codes. OENRON (other entity, not relied upon) has no 4.x code: it
# reads as a subcontractor and is written back as SC.
ROLES = {
    "SCLE": "sole-tenderer",
    "LE": "group-lead",
    "GM": "group-mem",
    "OERON": "oeron",
    "OENRON": "subcont",
    "SC": "subcont",
}
ROLE_CODES = {
    "sole-tenderer": "SCLE",
    "group-lead": "LE",
    "group-mem": "GM",
    "oeron": "OERON",
    "subcont": "SC",
}

GROW = {"listAgencyID": "EU-COM-GROW", "listVersionID": "2.1.1"}
CODE_LISTS = {
    "country": {
        "listID": "CountryCodeIdentifier",
        "listAgencyID": "ISO",
        "listName": "CountryCodeIdentifier",
        "listVersionID": "1.0",
    },
    "size": {"listID": "EOIndustryClassificationCode", **GROW},
    "role": {"listID": "EORoleType", **GROW},
    "criterion": {"listID": "CriteriaTypeCode", **GROW},
    "property-group": {"listID": "PropertyGroupType", **GROW},
    "element-type": {"listID": "CriterionElementType", **GROW},
    "data-type": {"listID": "ResponseDataType", **GROW},
    "access-right": {"listID": "ConfidentialityLevel", **GROW},
    "docref": {"listID": "DocRefContentType", **GROW},
    "procedure": {"listID": "ProcedureType", "listAgencyID": "EU-COM-OP", "listVersionID": "1.0"},
    "response-code": {},
}


def detect(root: etree._Element) -> str | None:
    match = _PROFILE.match(_text(root, "cbc:ProfileExecutionID") or "")
    if match:
        return match.group(1)
    if _text(root, "cbc:ProfileExecutionID"):
        return None
    version = root.find(
        "cbc:VersionID", {"cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"}
    )
    if version is not None:
        for candidate in ((version.text or "").strip(), version.get("schemeVersionID", "")):
            if _VERSION.match(candidate):
                return candidate
    # UBL 2.2 is used by ESPD-EDM 2.x only; older 2.x samples say no more than that.
    if _text(root, "cbc:UBLVersionID") == "2.2":
        return "2.1.1"
    return None


class Reader(UblReader):
    def role(self, code: str | None) -> str | None:
        return ROLES.get(code.upper(), code) if code else None


def read(root: etree._Element, version: str) -> Document:
    return Reader(version).read(root)


class Writer(UblWriter):
    version = "2.1.1"
    ubl_version = "2.2"
    agency = "EU-COM-GROW"

    def code_attrs(self, list_name: str) -> dict:
        return CODE_LISTS.get(list_name, {})

    def id_attrs(self) -> dict:
        return {"schemeID": "CriteriaTaxonomy", "schemeAgencyID": "EU-COM-GROW", "schemeVersionID": "2.1.1"}

    def response_id_attrs(self) -> dict:
        return {
            "schemeID": "ISO/IEC 9834-8:2008 - 4UUID",
            "schemeAgencyID": "EU-COM-GROW",
            "schemeVersionID": "2.1.1",
        }

    def role_code(self, role: str | None) -> str | None:
        return ROLE_CODES.get(role, role) if role else None

    def size_code(self, size: str | None) -> str | None:
        return size.upper() if size else None

    def header(self, root, document: Document) -> None:
        request = document.kind == DocumentKind.REQUEST
        self.el(root, "cbc", "UBLVersionID", "2.2", schemeAgencyID="OASIS-UBL-TC")
        self.el(
            root,
            "cbc",
            "CustomizationID",
            f"urn:www.cenbii.eu:transaction:biitrdm{'070' if request else '092'}:ver3.0",
            schemeAgencyID="CEN-BII",
            schemeVersionID="2.1.1",
        )
        self.el(root, "cbc", "ProfileID", "4.1", schemeAgencyID="CEN-BII", schemeVersionID="2.1.1")
        self.el(
            root,
            "cbc",
            "ProfileExecutionID",
            "ESPD-EDMv2.1.1-BASIC",
            schemeAgencyID="EU-COM-GROW",
            schemeVersionID="2.1.1",
        )
        self.el(root, "cbc", "ID", document.id or f"DUME-{document.uuid}", schemeAgencyID=self.agency)
        self.el(root, "cbc", "CopyIndicator", "false")
        self.el(
            root,
            "cbc",
            "UUID",
            document.uuid,
            schemeID="ISO/IEC 9834-8:2008 - 4UUID",
            schemeAgencyID="EU-COM-GROW",
            schemeVersionID="2.1.1",
        )
        self.el(
            root, "cbc", "ContractFolderID", document.contract_folder_id or "", schemeAgencyID=self.agency
        )
        self.el(root, "cbc", "IssueDate", document.issue_date or dt.date.today())  # noqa: DTZ011
        self.el(root, "cbc", "VersionID", "2.1.1", schemeAgencyID="EU-COM-GROW", schemeVersionID="2.1.1")
        self.opt(root, "cbc", "ProcedureCode", document.procedure_code, **self.code_attrs("procedure"))
        self.el(
            root,
            "cbc",
            "QualificationApplicationTypeCode",
            "Basic",
            listID="QualificationApplicationType",
            **GROW,
        )


def write(document: Document) -> bytes:
    return Writer().write(document)
