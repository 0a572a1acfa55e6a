"""``manage.py dume``: exit 0 with the content, exit 2 with the French errors."""

import io
import json
from dataclasses import dataclass

import pytest
from django.core.management import CommandError, call_command

import dume

from . import builders
from .conftest import SAMPLES_102, SAMPLES_211, SAMPLES_410, STANDARDS


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def run(*args) -> Result:
    """The command in-process (manage.py's error path: a CommandError's return code and message)."""
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        call_command("dume", *map(str, args), stdout=stdout, stderr=stderr)
    except CommandError as exc:
        return Result(exc.returncode, stdout.getvalue(), stderr.getvalue() + str(exc))
    return Result(0, stdout.getvalue(), stderr.getvalue())


@pytest.mark.parametrize("path", SAMPLES_102 + SAMPLES_211 + SAMPLES_410, ids=lambda p: p.name)
def test_inspect_every_official_example_exits_0(path):
    result = run("inspect", path)
    assert result.returncode == 0, result.stderr
    assert "Procédure : " in result.stdout


def test_inspect_prints_the_normalised_content():
    result = run("inspect", STANDARDS / "edm-4.1.0/xml-examples/ESPD-Response.xml")
    assert result.returncode == 0, result.stderr
    assert "Réponse (Response) ESPD-EDM 4.1.0" in result.stdout
    assert "Procédure : PP.20170419.1024-9" in result.stdout
    assert "PME : oui" in result.stdout


def test_inspect_json_is_the_model():
    result = run("inspect", "--json", STANDARDS / "edm-2.1.1/xml/BASIC-ESPDResponse-2.1.1.xml")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["version"] == "2.1.1"
    assert data["economic_operator"]["address"]["country"] == "DE"
    assert len(data["criteria"]) == 65


def test_inspect_refuses_with_exit_2_and_the_line(tmp_path):
    path = tmp_path / "xxe.xml"
    path.write_bytes(
        b'<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>'
    )
    result = run("inspect", path)
    assert result.returncode == 2
    assert "ligne 2" in result.stderr
    assert "DOCTYPE" in result.stderr


def test_validate_lists_each_failed_rule_with_id_and_location(tmp_path, compiled_rules):
    xml = dume.write(builders.response("4.1.0"), "4.1.0")
    path = tmp_path / "casse.xml"
    path.write_bytes(
        xml.replace(b'<cbc:UBLVersionID schemeAgencyID="OASIS-UBL-TC">2.3</cbc:UBLVersionID>\n', b"")
    )
    result = run("validate", path)
    assert result.returncode == 2
    assert "[BR-OTH-04-01]" in result.stderr
    assert "ligne 2" in result.stderr
    assert "QualificationApplicationResponse" in result.stderr  # the location


def test_validate_accepts_what_the_platform_writes(tmp_path):
    path = tmp_path / "dume.xml"
    path.write_bytes(dume.write(builders.response("2.1.1"), "2.1.1"))
    result = run("validate", path)
    assert result.returncode == 0, result.stderr
    assert "valide" in result.stdout


@pytest.mark.parametrize("target", ["4.1.0", "2.1.1"])
def test_convert_writes_the_target_and_lists_what_it_cannot_carry(tmp_path, target):
    source = tmp_path / "source.xml"
    source.write_bytes(dume.write(builders.response("4.1.0"), "4.1.0"))
    output = tmp_path / "cible.xml"
    result = run("convert", source, "--to", target, "--output", output)
    assert result.returncode == 0, result.stderr
    assert dume.read(output).version == target
    if target == "2.1.1":
        assert "non repris" in result.stderr
        assert "par lot" in result.stderr


def test_pdf_writes_the_readable_version(tmp_path):
    output = tmp_path / "dume.pdf"
    result = run("pdf", STANDARDS / "edm-2.1.1/xml/BASIC-ESPDResponse-2.1.1.xml", "--output", output)
    assert result.returncode == 0, result.stderr
    assert output.read_bytes().startswith(b"%PDF-")
    assert "version lisible" in result.stdout


def test_inspect_names_the_lots_and_the_group_of_a_response_for_several_lots(tmp_path):
    path = tmp_path / "reponse.xml"
    path.write_bytes(dume.write(builders.multi_lot_response(), "4.1.0"))
    result = run("inspect", path)
    assert result.returncode == 0, result.stderr
    assert "lots : LOT-0001, LOT-0002 (groupe de lots GLO-0001)" in result.stdout
