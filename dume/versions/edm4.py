"""ESPD-EDM 4.x (4.0.0, 4.1.0): UBL 2.3, path-like ids, per-lot requirements and answers.

Read: every 4.x document. Written: 4.1.0, the current version (2025-12-09).
"""

from __future__ import annotations

import datetime as dt
import re

from lxml import etree

from dume.countries import ALPHA2_TO_ALPHA3
from dume.model import Document
from dume.versions.ubl import NS, UblReader, UblWriter, _text

FAMILY = "4.x"
WRITES = ("4.1.0",)
_PROFILE = re.compile(r"^ESPD-EDMv(4\.\d+\.\d+)")

CODE_LISTS = {
    "country": {
        "listID": "http://publications.europa.eu/resource/authority/country",
        "listAgencyID": "OP",
        "listVersionID": "20250924-0",
    },
    "size": {
        "listID": "http://publications.europa.eu/resource/authority/economic-operator-size",
        "listAgencyID": "OP",
        "listVersionID": "20250924-0",
    },
    "role": {
        "listID": "http://publications.europa.eu/resource/authority/eo-role-type",
        "listAgencyID": "OP",
        "listVersionID": "20211208-0",
    },
    "criterion": {
        "listID": "http://publications.europa.eu/resource/authority/criterion",
        "listAgencyID": "OP",
        "listVersionID": "20240612-0",
    },
    "property-group": {"listID": "property-group-type", "listAgencyID": "OP", "listVersionID": "4.1.0"},
    "element-type": {"listID": "criterion-element-type", "listAgencyID": "OP", "listVersionID": "4.1.0"},
    "data-type": {"listID": "response-data-type", "listAgencyID": "OP", "listVersionID": "4.1.0"},
    "access-right": {
        "listID": "http://publications.europa.eu/resource/authority/access-right",
        "listAgencyID": "OP",
        "listVersionID": "20250924-0",
    },
    "docref": {
        "listID": "http://publications.europa.eu/resource/authority/docrefcontent-type",
        "listAgencyID": "OP",
        "listVersionID": "20250924-0",
    },
    "procedure": {
        "listID": "http://publications.europa.eu/resource/authority/procurement-procedure-type",
        "listAgencyID": "OP",
        "listVersionID": "20250924-0",
    },
    "response-code": {},
}


def detect(root: etree._Element) -> str | None:
    match = _PROFILE.match(_text(root, "cbc:ProfileExecutionID") or "")
    return match.group(1) if match else None


class Reader(UblReader):
    lot_groups = True


def read(root: etree._Element, version: str) -> Document:
    return Reader(version).read(root)


class Writer(UblWriter):
    version = "4.1.0"
    ubl_version = "2.3"
    agency = "OP"
    alpha3 = True
    answer_lots = True
    criterion_lots = True
    property_name = True
    single_lot_response = True
    role_required = True

    def code_attrs(self, list_name: str) -> dict:
        return CODE_LISTS.get(list_name, {})

    def country_code(self, code: str) -> str:
        return ALPHA2_TO_ALPHA3.get(code, code)

    def header(self, root, document: Document) -> None:
        self.el(root, "cbc", "UBLVersionID", "2.3", schemeAgencyID="OASIS-UBL-TC")
        self.el(
            root, "cbc", "ProfileExecutionID", "ESPD-EDMv4.1.0", schemeAgencyID="OP", schemeVersionID="4.1.0"
        )
        self.el(root, "cbc", "ID", document.id or f"DUME-{document.uuid}", schemeAgencyID=self.agency)
        self.el(root, "cbc", "CopyIndicator", "false")
        self.el(
            root,
            "cbc",
            "UUID",
            document.uuid,
            schemeID="ISO/IEC 9834-8:2008 - 4UUID",
            schemeAgencyID=self.agency,
            schemeVersionID="4.1.0",
        )
        self.el(
            root, "cbc", "ContractFolderID", document.contract_folder_id or "", schemeAgencyID=self.agency
        )
        self.el(root, "cbc", "IssueDate", document.issue_date or dt.date.today())  # noqa: DTZ011
        self.el(root, "cbc", "VersionID", "4.1.0", schemeAgencyID="OP", schemeVersionID="4.1.0")
        self.opt(root, "cbc", "ProcedureCode", document.procedure_code, **self.code_attrs("procedure"))


def write(document: Document) -> bytes:
    return Writer().write(document)


__all__ = ["FAMILY", "NS", "WRITES", "detect", "read", "write"]
