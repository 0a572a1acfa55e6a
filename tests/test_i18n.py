import shutil
import subprocess
from pathlib import Path

import pytest
from django.urls import reverse

from tests.helpers import text

LOCALE = Path(__file__).resolve().parent.parent / "locale"


@pytest.mark.django_db
def test_french_by_default(client):
    page = text(client.get(reverse("comptes:login")))
    assert '<html lang="fr"' in page
    assert "Se connecter" in page


@pytest.mark.django_db
def test_english_available_through_the_language_switch(client):
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    page = text(client.get(reverse("comptes:login")))
    assert '<html lang="en"' in page
    assert "Log in" in page
    assert "Register my company" in page
    assert "Main menu" in page
    assert "Se connecter" not in page


def test_compiled_catalogue_matches_its_source(tmp_path):
    if not shutil.which("msgfmt"):
        pytest.skip("needs msgfmt (Debian package gettext)")
    po = LOCALE / "en" / "LC_MESSAGES" / "django.po"
    fresh = tmp_path / "django.mo"
    subprocess.run(["msgfmt", "--check-format", "-o", str(fresh), str(po)], check=True)
    assert fresh.read_bytes() == (LOCALE / "en" / "LC_MESSAGES" / "django.mo").read_bytes(), (
        "run `make messages` and commit locale/"
    )
