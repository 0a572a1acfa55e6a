"""« Ouvrir un pli » means the opening of bids (the ceremony): the deposit page never says it
of the start of a deposit, which is « commencer un dépôt ». The page's words live in its
script (static/offres/src/depot.js; tests/test_bundle_integrity.py checks that the file served
is built from it)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "static/offres/src/depot.js"]


def test_the_start_of_a_deposit_is_never_called_opening_a_pli():
    for source in SOURCES:
        words = source.read_text(encoding="utf-8")
        for wrong in ("Ouverture du pli", "Ouvrir un pli", "ouvrir un pli"):
            assert wrong not in words, (source, wrong)
        assert "Début du dépôt" in words, source
        assert "commencer un nouveau dépôt" in words, source
