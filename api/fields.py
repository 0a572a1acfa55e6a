"""Input fields of the API whose bounds are those the server enforces, stated in the OpenAPI
schema too, so that a request the schema calls valid is one the server accepts: ids within
the database's integers, dates a deadline can have, CPV codes of the nomenclature, text that
is not blank, amounts above zero."""

from __future__ import annotations

import csv
import functools
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import dateparse, timezone
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from marches.archive import MAX_PATH_LENGTH
from marches.forms_public import DATE_MAX, DATE_MIN, DATE_RANGE_MESSAGE
from marches.models import DEPARTEMENTS, CpvCode, parse_cpv

# Ids are BigAutoField: beyond this, SQLite cannot even compare (OverflowError).
ID_MAX = 2**63 - 1
# Lot numbers are a PositiveSmallIntegerField.
SMALL_MAX = 32767
# A year of 1900 to 2999, as the date fields accept (marches.forms_public.DATE_MIN/MAX).
YEAR_PATTERN = r"^(19|2[0-9])[0-9]{2}-"
# What Python's str.strip() removes (DRF trims text fields), and NUL, which DRF refuses.
_BLANKS = r"\x00\t\n\x0b\x0c\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
TEXT_PATTERN = rf"^[^\x00]*[^{_BLANKS}][^\x00]*$"
OPTIONAL_TEXT_PATTERN = r"^[^\x00]*$"
# Euros with at most two decimals, above zero (the model's check constraint), 12 digits at most.
AMOUNT_PATTERN = r"^([1-9][0-9]{0,11}(\.[0-9]{1,2})?|0\.(0[1-9]|[1-9][0-9]?))$"
FOLDER_PATTERN = r"^[^\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]*$"
# A deposit's file name: one name, not a path (no separator), no control or bidirectional
# character, not « . » nor « .. » (marches.archive.safe_relative_path, with the rest in words).
_NOT_IN_NAME = r"\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069/\\"
FILE_NAME_PATTERN = rf"^(?!\.{{1,2}}$)[^{_NOT_IN_NAME}]*[^\s{_NOT_IN_NAME}][^{_NOT_IN_NAME}]*$"
_DEPT = r"0[1-9]|1[0-9]|2[1-9]|[3-8][0-9]|9[0-5]|2[AB]"
PLACE_PATTERN = rf"^(({_DEPT})([0-9]{{3}})?|97[1-46]([0-9]{{2}})?)$"


def identifier(**kwargs) -> serializers.IntegerField:
    """The id of a row: a positive integer the database can hold."""
    return serializers.IntegerField(min_value=1, max_value=ID_MAX, **kwargs)


class Patterned:
    """A field whose schema gets `pattern`: what the server checks, written as a regex."""

    pattern = ""

    def schema_pattern(self) -> str:
        return self.pattern


class TextField(Patterned, serializers.CharField):
    """Text that must say something (not only spaces), or may be empty if allow_blank."""

    def schema_pattern(self) -> str:
        return OPTIONAL_TEXT_PATTERN if self.allow_blank else TEXT_PATTERN


class PlaceField(Patterned, serializers.CharField):
    pattern = PLACE_PATTERN

    def __init__(self, **kwargs):
        super().__init__(max_length=5, **kwargs)


class FileNameField(Patterned, serializers.CharField):
    """A deposit's file name. What a pattern cannot say is in the description."""

    pattern = FILE_NAME_PATTERN


class FolderField(Patterned, serializers.CharField):
    """A folder of the DCE: no control or bidirectional characters (marches.archive refuses
    them, with absolute paths, drive letters and `..`, which the description says)."""

    pattern = FOLDER_PATTERN

    def __init__(self, **kwargs):
        super().__init__(max_length=MAX_PATH_LENGTH, trim_whitespace=False, **kwargs)


class AmountField(Patterned, serializers.DecimalField):
    """Euros excluding VAT, above zero, two decimals at most."""

    pattern = AMOUNT_PATTERN

    def __init__(self, **kwargs):
        super().__init__(max_digits=14, decimal_places=2, min_value=Decimal("0.01"), **kwargs)


class PatternedScheme(OpenApiSerializerFieldExtension):
    target_class = Patterned
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        schema["pattern"] = self.target.schema_pattern()
        schema.pop("minimum", None)  # an amount's is in its pattern (a string, not a number)
        return schema


@extend_schema_field({"type": "string", "format": "date", "pattern": YEAR_PATTERN})
class BoundedDateField(serializers.DateField):
    """A day between 1900 and 2999."""

    default_error_messages = {"range": DATE_RANGE_MESSAGE}

    def to_internal_value(self, value) -> date:
        day = super().to_internal_value(value)
        if not DATE_MIN <= day <= DATE_MAX:
            self.fail("range")
        return day


@extend_schema_field({"type": "string", "format": "date-time", "pattern": YEAR_PATTERN})
class AwareDateTimeField(serializers.DateTimeField):
    """An ISO 8601 date and time that states its offset: a deadline is never left to guess.
    Between 1900 and 2999, and a real date and time ("2027-13-45T99:00" is not one)."""

    default_error_messages = {
        "naive": "Indiquez le décalage horaire, par exemple 2026-12-14T12:00:00+01:00 "
        "(heure de Paris en hiver).",
        "not_a_date": "« {value} » n'est pas une date et heure : mois, jour, heure ou minute hors limites.",
        "range": "Indiquez une date et heure comprise entre 1900 et 2999.",
    }

    def to_internal_value(self, value) -> datetime:
        if isinstance(value, str):
            try:
                parsed = dateparse.parse_datetime(value.strip())
            except ValueError:
                # Well formed, but no such moment: month 13, day 45, hour 99.
                self.fail("not_a_date", value=value[:40])
            if parsed is not None:
                if timezone.is_naive(parsed):
                    self.fail("naive")
                if not DATE_MIN <= parsed.date() <= DATE_MAX:
                    self.fail("range")
        return super().to_internal_value(value)


class DepartementField(serializers.ChoiceField):
    def __init__(self, **kwargs):
        kwargs.setdefault(
            "error_messages",
            {"invalid_choice": "« {input} » n'est pas un numéro de département (par exemple 35, 2A, 974)."},
        )
        super().__init__(choices=sorted(DEPARTEMENTS), **kwargs)


@functools.cache
def cpv_codes() -> tuple[str, ...]:
    """Every code of CPV 2008 in both spellings the server reads: "45261000-4" and "45261000"
    (the list the database was loaded from, marches/migrations/0002_load_cpv.py)."""
    path = Path(__file__).resolve().parent.parent / "marches" / "data" / "cpv" / "cpv_2008.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = [(row["code"], row["check_digit"]) for row in csv.DictReader(handle)]
    return tuple(f"{code}-{digit}" for code, digit in rows) + tuple(code for code, _ in rows)


class CpvInputField(serializers.CharField):
    """A CPV code typed as "45261000-4" or "45261000", checked against the CPV 2008 list."""

    def to_internal_value(self, data) -> CpvCode:
        value = super().to_internal_value(data)
        try:
            return parse_cpv(value)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None


class CpvQueryField(serializers.CharField):
    """A CPV code as a search filter: checked by the search form itself (one lookup)."""


class CpvFieldScheme(OpenApiSerializerFieldExtension):
    """CPV codes as one schema component: the format `cpv`, a code of the nomenclature. Not an
    enumeration of its 18,908 spellings: tools choke on it (schemathesis took minutes per
    operation, Swagger UI would draw it as one select); tests/api/test_schemathesis.py gives
    the format its strategy (cpv_codes())."""

    target_class = CpvInputField
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        component = ResolvedComponent(
            name="CodeCpv",
            type=ResolvedComponent.SCHEMA,
            object="CodeCpv",
            schema={
                "type": "string",
                "format": "cpv",
                "description": "Code de la nomenclature CPV 2008 (format « cpv »), avec ou sans son "
                "chiffre de contrôle (45261000-4 ou 45261000) ; un code hors de la nomenclature ou un "
                "chiffre de contrôle faux est refusé (400).",
            },
        )
        auto_schema.registry.register_on_missing(component)
        if getattr(self.target, "allow_blank", False):
            return {"oneOf": [component.ref, {"type": "string", "enum": [""]}]}
        return component.ref


class CpvQueryScheme(CpvFieldScheme):
    target_class = CpvQueryField
