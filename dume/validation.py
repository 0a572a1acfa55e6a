"""Validation against the official XSD (lxml) and Schematron rules (their XSLT, run by saxonche).

The rules are those shipped with each ESPD-EDM version (copied unchanged into ``standards/``).
Each stylesheet is compiled once per process and kept; a Schematron run on a full document takes
a few seconds, most of it in the criterion rules that load the criteria taxonomy.

Failed rules come back as ``Issue``s with the rule's id, its flag (fatal / warning), the XPath
location SVRL gives, and the line of that element in the document.
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from dume import safe, versions
from dume.errors import DumeError, Issue
from dume.model import DocumentKind
from dume.versions import edm1, edm2, edm3, edm4

STANDARDS = Path(__file__).resolve().parent / "standards"
SVRL = "http://purl.oclc.org/dsdl/svrl"

XSD = {
    (
        edm4,
        DocumentKind.REQUEST,
    ): "edm-4.1.0/ubl-2.3/xsdrt/maindoc/UBL-QualificationApplicationRequest-2.3.xsd",
    (
        edm4,
        DocumentKind.RESPONSE,
    ): "edm-4.1.0/ubl-2.3/xsdrt/maindoc/UBL-QualificationApplicationResponse-2.3.xsd",
    (
        edm3,
        DocumentKind.REQUEST,
    ): "edm-4.1.0/ubl-2.3/xsdrt/maindoc/UBL-QualificationApplicationRequest-2.3.xsd",
    (
        edm3,
        DocumentKind.RESPONSE,
    ): "edm-4.1.0/ubl-2.3/xsdrt/maindoc/UBL-QualificationApplicationResponse-2.3.xsd",
    (edm2, DocumentKind.REQUEST): "edm-2.1.1/xsdrt/maindoc/UBL-QualificationApplicationRequest-2.2.xsd",
    (edm2, DocumentKind.RESPONSE): "edm-2.1.1/xsdrt/maindoc/UBL-QualificationApplicationResponse-2.2.xsd",
    (edm1, DocumentKind.REQUEST): "edm-1.0.2/xsd/maindoc/ESPDRequest-1.0.xsd",
    (edm1, DocumentKind.RESPONSE): "edm-1.0.2/xsd/maindoc/ESPDResponse-1.0.xsd",
}
SCHEMATRON = {
    (edm4, DocumentKind.REQUEST): "edm-4.1.0/validation/ESPDRequest/xsl",
    (edm4, DocumentKind.RESPONSE): "edm-4.1.0/validation/ESPDResponse/xsl",
    (edm2, DocumentKind.REQUEST): "edm-2.1.1/val/schematron/ESPDRequest-2.1.1/xsl",
    (edm2, DocumentKind.RESPONSE): "edm-2.1.1/val/schematron/ESPDResponse-2.1.1/xsl",
    (edm1, DocumentKind.REQUEST): "edm-1.0.2/schematron/compiled-xsl/ESPDRequest/validation-files",
    (edm1, DocumentKind.RESPONSE): "edm-1.0.2/schematron/compiled-xsl/ESPDResponse/validation-files",
}


@dataclass
class Report:
    version: str
    kind: DocumentKind
    xsd: list[Issue] = field(default_factory=list)
    schematron: list[Issue] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Issue]:
        return self.xsd + [issue for issue in self.schematron if issue.severity == "error"]

    @property
    def warnings(self) -> list[Issue]:
        return [issue for issue in self.schematron if issue.severity == "warning"]

    @property
    def valid(self) -> bool:
        return not self.errors


def validate(source, *, schematron: bool = True) -> Report:
    """Validate the ESPD document ``source`` (path, bytes or stream) against its version's rules."""
    data = safe.read_bytes(source)
    tree = safe.parse(data)
    family, version = versions.detect(tree.getroot())
    kind = DocumentKind.REQUEST if tree.getroot().tag.endswith("Request") else DocumentKind.RESPONSE
    report = Report(version=version, kind=kind)
    report.xsd = xsd_issues(tree, family, kind)
    if schematron:
        if (family, kind) in SCHEMATRON:
            report.schematron = schematron_issues(data, tree, family, kind)
        else:
            report.notes.append(
                f"Aucune règle Schematron officielle n'est fournie pour la version {version}."
            )
    return report


@functools.cache
def _schema(relative: str) -> etree.XMLSchema:
    # The UBL schemas import each other by relative paths; nothing is fetched from the network.
    parser = etree.XMLParser(no_network=True, resolve_entities=False)
    return etree.XMLSchema(etree.parse(str(STANDARDS / relative), parser))


def xsd_issues(tree: etree._ElementTree, family, kind: DocumentKind) -> list[Issue]:
    schema = _schema(XSD[(family, kind)])
    if schema.validate(tree):
        return []
    return [
        Issue(
            message=f"XSD : {error.message}",
            line=error.line or None,
            element=_element_of(error.path),
            rule="XSD",
            location=error.path,
        )
        for error in schema.error_log
    ]


def _element_of(path: str | None) -> str | None:
    if not path:
        return None
    last = path.rsplit("/", 1)[-1]
    return re.sub(r"\[\d+\]$", "", last.split(":")[-1]) or None


# saxonche's processor is not thread-safe: one per process, behind a lock.
_LOCK = threading.Lock()


@functools.cache
def _processor():
    from saxonche import PySaxonProcessor

    return PySaxonProcessor(license=False)


@functools.cache
def _stylesheets(directory: str) -> tuple:
    processor = _processor()
    compiler = processor.new_xslt30_processor()
    return tuple(
        (path.name, compiler.compile_stylesheet(stylesheet_file=str(path)))
        for path in sorted((STANDARDS / directory).glob("*.xsl"))
    )


def compile_rules(family, kind: DocumentKind) -> None:
    """Compile a version's Schematron stylesheets now (tests do it once per session)."""
    with _LOCK:
        _stylesheets(SCHEMATRON[(family, kind)])


def schematron_issues(data: bytes, tree: etree._ElementTree, family, kind: DocumentKind) -> list[Issue]:
    issues = []
    with _LOCK:
        stylesheets = _stylesheets(SCHEMATRON[(family, kind)])
        processor = _processor()
        try:
            node = processor.parse_xml(xml_text=data.decode(tree.docinfo.encoding or "utf-8"))
        except Exception as exc:
            raise DumeError(f"Le document n'a pas pu être passé aux règles Schematron : {exc}.") from exc
        outputs = []
        for name, stylesheet in stylesheets:
            outputs.append((name, stylesheet.transform_to_string(xdm_node=node)))
    for name, output in outputs:
        if not output:
            continue
        svrl = etree.fromstring(output.encode("utf-8"))
        for failed in svrl.iter(f"{{{SVRL}}}failed-assert", f"{{{SVRL}}}successful-report"):
            flag = (failed.get("flag") or "fatal").lower()
            location = failed.get("location")
            text = " ".join("".join(failed.findtext(f"{{{SVRL}}}text") or "").split())
            element = _locate(tree, location)
            issues.append(
                Issue(
                    message=f"{name} : {text}",
                    line=element.sourceline if element is not None else None,
                    element=etree.QName(element).localname if element is not None else None,
                    rule=failed.get("id") or _short(failed.get("test")),
                    location=location,
                    severity="warning" if flag in ("warning", "warn", "info", "information") else "error",
                )
            )
    return issues


_STEP = re.compile(r"\*:([\w.-]+)")


def _locate(tree: etree._ElementTree, location: str | None):
    """The element an SVRL location (XPath 2.0 with ``*:name`` steps) points at, if any."""
    if not location:
        return None
    xpath = _STEP.sub(lambda m: f"*[local-name()='{m.group(1)}']", location)
    try:
        found = tree.xpath(xpath)
    except etree.XPathError:
        return None
    for item in found if isinstance(found, list) else []:
        if isinstance(item, etree._Element):
            return item
        parent = getattr(item, "getparent", None)  # an attribute or a text: its element
        if parent is not None and parent() is not None:
            return parent()
    return None


def _short(test: str | None) -> str | None:
    """Rules without an id (1.0.2) are named by their test, cut to a readable length."""
    if not test:
        return None
    test = " ".join(test.split())
    return test if len(test) <= 80 else test[:77] + "…"
