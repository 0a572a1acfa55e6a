import pytest
from django.core.exceptions import ValidationError

from comptes.models import Organisation
from tests.factories import OrganisationFactory


@pytest.mark.parametrize("siret", ["73282932000074", "732 829 320 00074", "35600000000048", "35600000010000"])
def test_valid_siret(siret):
    Organisation(kind="company", name="X", siret=siret).full_clean(
        validate_unique=False, validate_constraints=False
    )


def test_la_poste_exception_uses_digit_sum_not_luhn():
    # 356000000 establishments: digits summing to a multiple of 5, whatever Luhn says.
    from stdnum import luhn

    assert not luhn.is_valid("35600000010000")
    organisation = Organisation(kind="company", name="La Poste", siret="35600000010000")
    organisation.clean()
    assert organisation.siret == "35600000010000"
    # Passes Luhn, but its digits sum to 16: refused under La Poste's rule.
    assert luhn.is_valid("35600000010013")
    with pytest.raises(ValidationError):
        Organisation(kind="company", name="La Poste", siret="35600000010013").clean()


@pytest.mark.parametrize(
    ("siret", "message"),
    [
        ("73282932000075", "clé de contrôle"),
        ("7328293200007", "14 chiffres"),
        ("7328293200007A", "14 chiffres"),
        ("", "obligatoire"),
    ],
)
def test_invalid_siret_has_french_message(siret, message):
    with pytest.raises(ValidationError) as excinfo:
        Organisation(kind="company", name="X", siret=siret).clean()
    assert message in excinfo.value.message_dict["siret"][0]


def test_foreign_company_by_vat():
    organisation = Organisation(kind="company", name="GmbH", country="DE", vat_number="de 136 695 976")
    organisation.full_clean(validate_unique=False, validate_constraints=False)
    assert organisation.vat_number == "DE136695976"
    assert organisation.siret is None


def test_foreign_company_wrong_vat_checksum():
    with pytest.raises(ValidationError) as excinfo:
        Organisation(kind="company", name="GmbH", country="DE", vat_number="DE136695977").clean()
    assert "TVA" in excinfo.value.message_dict["vat_number"][0]


def test_vat_must_match_country():
    with pytest.raises(ValidationError) as excinfo:
        Organisation(kind="company", name="GmbH", country="BE", vat_number="DE136695976").clean()
    assert "BE" in excinfo.value.message_dict["vat_number"][0]


def test_non_eu_company_by_national_id():
    organisation = Organisation(kind="company", name="SA", country="CH", national_id="che-123.456.789")
    organisation.full_clean(validate_unique=False, validate_constraints=False)
    assert organisation.national_id == "CHE-123.456.789"
    with pytest.raises(ValidationError):
        Organisation(kind="company", name="SA", country="CH", vat_number="CHE123456789").clean()


def test_foreign_company_needs_an_identifier():
    with pytest.raises(ValidationError):
        Organisation(kind="company", name="Ltd", country="GB").clean()


@pytest.mark.django_db
def test_database_refuses_duplicate_siret_and_unidentified_organisations():
    from django.db import IntegrityError, transaction

    existing = OrganisationFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        Organisation.objects.create(kind="company", name="Doublon", siret=existing.siret)
    with pytest.raises(IntegrityError), transaction.atomic():
        Organisation.objects.create(kind="company", name="Sans identifiant", country="FR", siret=None)
    with pytest.raises(IntegrityError), transaction.atomic():
        Organisation.objects.create(
            kind="buyer", name="Acheteur étranger", country="DE", vat_number="DE136695976"
        )
