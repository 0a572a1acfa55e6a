"""The criteria index: a criterion's UUID is stable across versions, its type code is not.

``criteria_index.csv`` (copied from the ESPD-EDM distribution, see standards/PROVENANCE.md)
gives, for every UUID, the code in 1.0.2, 2.1.1, 3.3.0 and 4.1.0. Templates (the criterion's
property tree in a version) come from the official Request samples of that version.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

STANDARDS = Path(__file__).resolve().parent / "standards"


@dataclass(frozen=True)
class IndexEntry:
    uuid: str
    codes: dict[str, str]  # version → type code
    name: str

    @property
    def category(self) -> str:
        code = self.codes.get("2.1.1") or self.codes.get("1.0.2") or ""
        if ".EXCLUSION." in code:
            return "exclusion"
        if ".SELECTION." in code:
            return "selection"
        return "other"


@functools.cache
def index() -> dict[str, IndexEntry]:
    entries = {}
    with (STANDARDS / "criteria" / "criteria_index.csv").open(encoding="utf-8") as stream:
        for row in csv.DictReader(stream):
            codes = {
                key.removeprefix("code_v"): value
                for key, value in row.items()
                if key.startswith("code_v") and value
            }
            entries[row["uuid"]] = IndexEntry(uuid=row["uuid"], codes=codes, name=row["name"])
    return entries


def code_for(uuid: str, version: str) -> str | None:
    entry = index().get(uuid)
    if entry is None:
        return None
    family = version.split(".")[0]
    for known, code in entry.codes.items():
        if known == version or known.split(".")[0] == family:
            return code
    return None


def category_of(criterion) -> str:
    entry = index().get(criterion.uuid)
    if entry is not None:
        return entry.category
    code = (criterion.type_code or "").upper()
    if "EXCLUSION" in code:
        return "exclusion"
    if "SELECTION" in code:
        return "selection"
    return "other"


TEMPLATE_SOURCES = {
    "4.1.0": ("edm-4.1.0/xml-examples/ESPD-Request.xml",),
    "2.1.1": ("edm-2.1.1/xml/BASIC-ESPDRequest-2.1.1.xml", "edm-2.1.1/xml/EXTENDED-ESPDRequest-2.1.1.xml"),
}


@functools.cache
def templates(version: str) -> dict:
    """UUID → the criterion (tree, no answers) as the official Request of ``version`` writes it."""
    from dume.reading import read

    found = {}
    for relative in TEMPLATE_SOURCES[version]:
        for criterion in read(STANDARDS / relative).criteria:
            found.setdefault(criterion.uuid, criterion)
    return found
