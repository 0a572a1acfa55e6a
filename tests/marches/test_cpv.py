"""The CPV list is loaded in full, and the list — not the 7-1-3 formula — is the authority."""

import csv
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from marches.models import CpvCode, cpv_prefix, parse_cpv

DATA = Path(__file__).resolve().parents[2] / "marches" / "data" / "cpv"

pytestmark = pytest.mark.django_db


def test_full_list_loaded_with_labels_in_both_languages():
    assert CpvCode.objects.count() == 9454
    roofing = CpvCode.objects.get(code="45261000")
    assert roofing.full_code == "45261000-4"
    assert roofing.label_fr.startswith("Travaux de charpente et de couverture")
    assert roofing.label_en


def test_codes_whose_official_digit_breaks_the_formula_are_accepted_as_published():
    with (DATA / "check_digit_algorithm_mismatches.csv").open(encoding="utf-8") as handle:
        mismatches = list(csv.DictReader(handle))
    assert len(mismatches) == 532
    for row in mismatches[:50]:
        code = f"{row['code']}-{row['official_check_digit']}"
        assert parse_cpv(code).code == row["code"]
        with pytest.raises(ValidationError):
            parse_cpv(f"{row['code']}-{row['algorithm_check_digit']}")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "n'est pas un code CPV"),
        ("4526100", "n'est pas un code CPV"),
        ("45261000-9", "Le chiffre de contrôle de 45261000 est 4"),
        ("99999999", "n'existe pas dans la nomenclature"),
    ],
)
def test_bad_codes_are_refused_in_french(value, message):
    with pytest.raises(ValidationError) as exc:
        parse_cpv(value)
    assert message in " ".join(exc.value.messages)


def test_code_without_check_digit_is_accepted():
    assert parse_cpv(" 03300000 ").check_digit == "2"


@pytest.mark.parametrize(
    ("code", "prefix"),
    [("45000000", "45"), ("45200000", "452"), ("45261000", "45261"), ("03000000", "03"), ("30000000", "30")],
)
def test_descendants_prefix(code, prefix):
    assert cpv_prefix(code) == prefix
