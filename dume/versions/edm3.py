"""ESPD-EDM 3.x (3.0.0 to 3.3.0): UBL 2.3 like 4.x, short criterion codes, alpha-3 countries.

No 3.x sample is supplied; 3.x shares 4.x's structure (the 4.0 changes are path-like ids,
per-lot requirements and the evidence block, which the shared reader handles either way), so
the 4.x reader reads it. Read only: the platform writes 2.1.1 and 4.1.0.
"""

from __future__ import annotations

import re

from lxml import etree

from dume.model import Document
from dume.versions.ubl import UblReader, _text

FAMILY = "3.x"
WRITES: tuple[str, ...] = ()
_PROFILE = re.compile(r"^ESPD-EDMv(3\.\d+\.\d+)")


def detect(root: etree._Element) -> str | None:
    match = _PROFILE.match(_text(root, "cbc:ProfileExecutionID") or "")
    return match.group(1) if match else None


class Reader(UblReader):
    lot_groups = True  # a Response names one lot or group of lots, as in 4.x


def read(root: etree._Element, version: str) -> Document:
    return Reader(version).read(root)
