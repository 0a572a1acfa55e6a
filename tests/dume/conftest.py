from pathlib import Path

import pytest

from dume import validation
from dume.model import DocumentKind
from dume.versions import edm2, edm4

STANDARDS = Path(validation.__file__).resolve().parent / "standards"
SAMPLES_102 = sorted((STANDARDS / "edm-1.0.2" / "examples").rglob("*.xml"))
SAMPLES_211 = sorted((STANDARDS / "edm-2.1.1" / "xml").glob("*.xml"))
SAMPLES_410 = sorted((STANDARDS / "edm-4.1.0" / "xml-examples").glob("*.xml"))


@pytest.fixture(scope="session")
def compiled_rules():
    """Compile the 2.1.1 and 4.1.0 Schematron stylesheets once for the whole session."""
    for family in (edm2, edm4):
        for kind in DocumentKind:
            validation.compile_rules(family, kind)
