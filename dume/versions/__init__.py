"""The registry of ESPD-EDM version families: one module per family, chosen from the document.

Each module exposes ``FAMILY``, ``WRITES`` (the versions it writes), ``detect(root)`` (the
version it recognises, or None) and ``read(root, version)``; writers also ``write(document)``.
A new version (5.0, aligned with ePO and eForms) is a new module added to ``FAMILIES``.

Dispatch: the root element's namespace first (1.0.2 has its own roots; 2.x to 4.x share UBL's
``QualificationApplicationRequest/Response``), then ``cbc:ProfileExecutionID`` (2.x and later),
or ``cbc:VersionID`` / ``cbc:UBLVersionID`` for 2.x documents that omit it.
"""

from __future__ import annotations

from types import ModuleType

from lxml import etree

from dume.errors import NotEspdError, UnknownVersionError
from dume.versions import edm1, edm2, edm3, edm4
from dume.versions.ubl import NS, REQUEST_ROOT, RESPONSE_ROOT

FAMILIES: tuple[ModuleType, ...] = (edm1, edm2, edm3, edm4)
UBL_ROOTS = (REQUEST_ROOT, RESPONSE_ROOT)
READ_VERSIONS = "1.0.2, 2.0.x, 2.1.x, 3.x et 4.x"


def detect(root: etree._Element) -> tuple[ModuleType, str]:
    """The family module and the version of the document rooted at ``root``."""
    if root.tag in edm1.ROOTS:
        return edm1, "1.0.2"
    if root.tag not in UBL_ROOTS:
        qname = etree.QName(root)
        raise NotEspdError(
            f"Ce document XML n'est pas un DUME (ESPD) : son élément racine est « {qname.localname} »"
            + (f" (espace de noms {qname.namespace})" if qname.namespace else " (sans espace de noms)")
            + ", attendu QualificationApplicationRequest ou QualificationApplicationResponse (ESPD-EDM 2 "
            "et suivants) ou ESPDRequest / ESPDResponse (ESPD-EDM 1.0.2).",
            line=root.sourceline,
            element=qname.localname,
        )
    for family in FAMILIES:
        version = family.detect(root)
        if version:
            return family, version
    marker = root.find("cbc:ProfileExecutionID", NS)
    if marker is None:
        marker = root.find("cbc:VersionID", NS)
    said = (marker.text or "").strip() if marker is not None else ""
    raise UnknownVersionError(
        (f"Version ESPD-EDM non prise en charge : « {said} »" if said else "Version ESPD-EDM introuvable")
        + f". Versions lues : {READ_VERSIONS}.",
        line=(marker if marker is not None else root).sourceline,
        element=etree.QName(marker).localname if marker is not None else etree.QName(root).localname,
    )


def writer_for(version: str) -> ModuleType:
    for family in FAMILIES:
        if version in family.WRITES:
            return family
    writable = ", ".join(v for family in FAMILIES for v in family.WRITES)
    raise UnknownVersionError(
        f"Écriture en version {version} non prise en charge (versions écrites : {writable})."
    )
