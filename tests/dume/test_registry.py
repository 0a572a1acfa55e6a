"""Version dispatch: every family found by its markers, and a new version is a new module."""

import types

import pytest

import dume
from dume import versions
from dume.errors import UnknownVersionError
from dume.versions import edm4

from .conftest import STANDARDS

RESPONSE_410 = (STANDARDS / "edm-4.1.0/xml-examples/ESPD-Response.xml").read_bytes()
RESPONSE_211 = (STANDARDS / "edm-2.1.1/xml/BASIC-ESPDResponse-2.1.1.xml").read_bytes()


def as_version(data: bytes, profile: str, version: str) -> bytes:
    return data.replace(b">ESPD-EDMv4.1.0<", f">{profile}<".encode(), 1).replace(
        b">4.1.0</cbc:VersionID>", f">{version}</cbc:VersionID>".encode(), 1
    )


def test_a_3_x_document_is_read_by_the_3_x_module():
    # No 3.x sample is supplied: 3.x has 4.x's UBL 2.3 structure, so a 4.1.0 document relabelled.
    document = dume.read(as_version(RESPONSE_410, "ESPD-EDMv3.3.0", "3.3.0"))
    assert document.version == "3.3.0"
    assert document.profile == "ESPD-EDMv3.3.0"
    assert document.economic_operator.country == "BE"
    assert document.criterion("005eb9ed-1347-4ca3-bb29-9bc0db64e1ab").type_code == "crime-org"
    assert sum(len(c.answers) for c in document.criteria) == 393


def test_3_x_has_no_official_schematron_and_the_report_says_so():
    report = dume.validate(as_version(RESPONSE_410, "ESPD-EDMv3.3.0", "3.3.0"))
    assert report.xsd == []
    assert report.notes == ["Aucune règle Schematron officielle n'est fournie pour la version 3.3.0."]


@pytest.mark.parametrize(
    ("marker", "version"),
    [
        ("ESPD-EDMv2.0.0-REGULATED", "2.0.0"),
        ("ESPD-EDMv2.1.0-SELFCONTAINED", "2.1.0"),
        ("ESPD-EDMv4.0.0", "4.0.0"),
    ],
)
def test_profile_execution_ids_pick_the_family(marker, version):
    data = RESPONSE_410.replace(b">ESPD-EDMv4.1.0<", f">{marker}<".encode(), 1)
    assert dume.read(data).version == version


def test_a_2_x_document_without_profile_execution_id_is_read_from_its_version_id():
    assert b"ProfileExecutionID" not in RESPONSE_211
    assert dume.read(RESPONSE_211).version == "2.1.1"


def test_5_0_is_refused_until_a_module_reads_it_and_then_read_by_it(monkeypatch):
    data = as_version(RESPONSE_410, "ESPD-EDMv5.0.0", "5.0.0")
    with pytest.raises(UnknownVersionError, match=r"ESPD-EDMv5\.0\.0"):
        dume.read(data)

    # A new version is a new module: detect its marker, read it (here with 4.x's reader).
    edm5 = types.ModuleType("edm5")
    edm5.FAMILY = "5.x"
    edm5.WRITES = ()
    edm5.detect = lambda root: (
        "5.0.0"
        if root.findtext("cbc:ProfileExecutionID", namespaces=versions.NS) == "ESPD-EDMv5.0.0"
        else None
    )
    edm5.read = edm4.read
    monkeypatch.setattr(versions, "FAMILIES", (*versions.FAMILIES, edm5))
    assert dume.read(data).version == "5.0.0"


def test_writing_an_unwritten_version_is_refused_in_french():
    with pytest.raises(UnknownVersionError, match=r"Écriture en version 3\.3\.0 non prise en charge"):
        dume.write(dume.read(RESPONSE_410), "3.3.0")
