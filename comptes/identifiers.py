"""Identifiers of organisations: SIRET for French ones, EU VAT or a national id otherwise.

Validation is python-stdnum's: the SIRET Luhn check with La Poste's exception (SIREN
356000000, whose establishments' digits sum to a multiple of 5), and each EU country's VAT
check digits.
"""

from django.core.exceptions import ValidationError
from stdnum.eu import vat as eu_vat
from stdnum.exceptions import ValidationError as StdnumError
from stdnum.fr import siret as fr_siret

EU_VAT_PREFIX = {"GR": "EL"}  # Greece's VAT numbers start with EL, not its ISO code


def normalise_siret(value: str) -> str:
    return fr_siret.compact(value or "")


def validate_siret(value: str) -> None:
    number = normalise_siret(value)
    if not number.isdigit() or len(number) != 14:
        raise ValidationError("Le SIRET doit comporter exactement 14 chiffres.", code="siret_format")
    try:
        fr_siret.validate(number)
    except StdnumError:
        raise ValidationError(
            "Ce SIRET n'est pas valide (la clé de contrôle ne correspond pas). "
            "Vérifiez les 14 chiffres sur votre avis de situation Insee.",
            code="siret_checksum",
        ) from None


def normalise_vat(value: str) -> str:
    return eu_vat.compact(value or "")


def validate_vat(value: str, country: str) -> None:
    number = normalise_vat(value)
    prefix = EU_VAT_PREFIX.get(country, country)
    if not number.startswith(prefix):
        raise ValidationError(
            f"Le numéro de TVA doit commencer par le préfixe du pays ({prefix}).",
            code="vat_country",
        )
    try:
        eu_vat.validate(number)
    except StdnumError:
        raise ValidationError(
            "Ce numéro de TVA intracommunautaire n'est pas valide.", code="vat_checksum"
        ) from None


def is_eu_country(country: str) -> bool:
    """EU member states, whose companies are identified by their VAT number."""
    return country.lower() in eu_vat.MEMBER_STATES and country != "XI"
