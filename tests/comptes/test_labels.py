"""Labels tell the truth: a field said optional can be left out, one that may be required says
when, and the site says « facultatif » everywhere (django-dsfr's « (Optionnel) » is
overridden by locale/fr)."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.urls import reverse

from tests.helpers import text

pytestmark = pytest.mark.django_db

LOCALE = Path(__file__).resolve().parent.parent.parent / "locale"


def labels(page: str) -> dict[str, str]:
    """Each field's label as read, by the field's id."""
    pattern = r'<label[^>]*for="id_([\w-]+)"[^>]*>(.*?)(?:<span class="fr-hint-text|</label>)'
    found = re.findall(pattern, page, re.DOTALL)
    return {name: " ".join(re.sub(r"<[^>]+>", " ", label).split()) for name, label in found}


def assert_one_word_for_optional(page: str) -> None:
    assert "ptionnel" not in page.lower()  # neither « Optionnel » nor « optionnel »


def test_registration_labels_say_which_identifier_is_needed(client):
    page = text(client.get(reverse("comptes:register")))
    assert_one_word_for_optional(page)
    found = labels(page)
    assert found["siret"] == "SIRET — obligatoire pour une entreprise établie en France"
    # Required for some companies: marked neither optional nor required, the label says when.
    for name in ("siret", "vat_number", "national_id"):
        assert "facultatif" not in found[name]


def test_a_french_company_without_siret_is_refused_as_the_label_says(client):
    data = {
        "first_name": "Jeanne",
        "last_name": "Durand",
        "email": "jeanne@durand.example",
        "password1": "une phrase de passe assez longue",
        "password2": "une phrase de passe assez longue",
        "organisation_name": "Durand",
        "country": "FR",
    }
    response = client.post(reverse("comptes:register"), data)
    assert response.status_code == 400
    assert "Le SIRET est obligatoire pour une organisation française." in text(response)


def test_the_dsfr_mark_reads_facultatif():
    from django.utils import translation
    from django.utils.translation import gettext

    with translation.override("fr"):
        assert gettext("(Optional)") == "(facultatif)"


def test_compiled_french_overrides_match_their_source(tmp_path):
    if not shutil.which("msgfmt"):
        pytest.skip("needs msgfmt (Debian package gettext)")
    po = LOCALE / "fr" / "LC_MESSAGES" / "django.po"
    fresh = tmp_path / "django.mo"
    subprocess.run(["msgfmt", "--check-format", "-o", str(fresh), str(po)], check=True)
    assert fresh.read_bytes() == (LOCALE / "fr" / "LC_MESSAGES" / "django.mo").read_bytes(), (
        "run `make messages` and commit locale/"
    )


@pytest.mark.parametrize("name", ["comptes:login", "comptes:register", "comptes:password_reset"])
def test_public_account_forms_have_no_optionnel(client, name):
    assert_one_word_for_optional(text(client.get(reverse(name))))
