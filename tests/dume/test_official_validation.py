"""Which official examples pass their own XSD and Schematron (the issue warns some do not)."""

import pytest

from dume.validation import validate

from .conftest import SAMPLES_102, SAMPLES_211, SAMPLES_410, STANDARDS


@pytest.mark.parametrize("path", SAMPLES_102 + SAMPLES_211 + SAMPLES_410, ids=lambda p: p.name)
def test_every_official_example_passes_its_xsd(path):
    assert validate(path, schematron=False).xsd == []


@pytest.mark.parametrize("path", SAMPLES_102, ids=lambda p: p.name)
def test_every_1_0_2_example_fails_its_own_schematron(path):
    report = validate(path)
    assert report.xsd == []
    assert report.errors, "1.0.2's own rules refuse its own samples (recorded in PROVENANCE.md)"
    # Every location that names an element resolves to its line (1.0.2 also reports bare "/@attr").
    assert all(issue.line for issue in report.errors if (issue.location or "").startswith("/*"))


@pytest.mark.parametrize(
    "relative", ["edm-2.1.1/xml/BASIC-ESPDResponse-2.1.1.xml", "edm-4.1.0/xml-examples/ESPD-Response.xml"]
)
def test_the_2_1_1_and_4_1_0_responses_pass_their_schematron(relative, compiled_rules):
    report = validate(STANDARDS / relative)
    assert report.valid, [str(issue) for issue in report.errors]
