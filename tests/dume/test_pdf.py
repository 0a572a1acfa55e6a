"""The readable PDF says what the XML says: its text (pdftotext) against the model it comes from."""

import re
import shutil
import subprocess

import pytest

import dume
from dume import pdf

from . import builders
from .conftest import STANDARDS

pytestmark = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs poppler-utils")


def pdf_text(document, tmp_path) -> str:
    path = tmp_path / "dume.pdf"
    path.write_bytes(pdf.render(document))
    out = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return _flat(out)


def _flat(text: str) -> str:
    return " ".join(text.split())


def assert_says_every_line_in_order(text: str, document) -> None:
    position = 0
    for line in pdf.lines(document):
        found = text.find(_flat(line.text), position)
        assert found >= 0, f"absent du PDF (ou déplacé) : {line.text!r}"
        position = found + len(_flat(line.text))


def test_the_pdf_of_a_response_says_what_its_model_says(tmp_path):
    document = builders.multi_lot_response()
    text = pdf_text(document, tmp_path)
    assert_says_every_line_in_order(text, document)
    # And the facts themselves, spelt out independently of pdf.lines:
    operator = document.economic_operator
    assert f"Opérateur économique : {operator.name}" in text  # « Durand Bâtiment »: accents kept
    assert "Identifiant (SIRET) : 73282932000074" in text
    assert "Identifiant (VAT) : FR44732829320" in text
    assert "PME : oui (petite entreprise)" in text
    assert "Procédure : 2026-TRX-017" in text
    assert "Lots : LOT-0001, LOT-0002" in text
    assert "1 200 000,00 EUR (lots : LOT-0001, LOT-0002)" in text
    answered_no = sum(1 for c in document.criteria for a in c.answers if a.indicator is False)
    assert len(re.findall(r": non \(lots : LOT-0001, LOT-0002\)", text)) == answered_no == 8
    assert text.count("Motif d'exclusion — ") == 8
    assert text.count("Critère de sélection — ") == 1


def test_the_pdf_and_the_xml_come_from_one_model(tmp_path):
    # What the XML says, read back, gives the same PDF text: they cannot disagree.
    document = builders.response("4.1.0")
    back = dume.read(dume.write(document, "4.1.0"))
    assert pdf.lines(back) == pdf.lines(document)
    assert_says_every_line_in_order(pdf_text(back, tmp_path), document)


def test_the_pdf_of_an_official_response_and_request_says_every_answer(tmp_path):
    response = dume.read(STANDARDS / "edm-2.1.1/xml/BASIC-ESPDResponse-2.1.1.xml")
    text = pdf_text(response, tmp_path)
    assert_says_every_line_in_order(text, response)
    assert sum(len(c.answers) for c in response.criteria) == 320
    request = dume.read(STANDARDS / "edm-4.1.0/xml-examples/ESPD-Request.xml")
    text = pdf_text(request, tmp_path)
    assert_says_every_line_in_order(text, request)
    assert text.startswith("DUME — Demande (ESPD-EDM 4.1.0)")
