"""DUME / ESPD: read every ESPD-EDM version, write 2.1.1 and 4.1.0, validate against the official
XSD and Schematron rules.

A library first: pure Python over lxml (and saxonche for the Schematron), no Django, nothing from
the platform's other apps — an import-linter contract keeps it so. The Django app around it is
only the ``manage.py dume`` command (``dume/management``).

    import dume
    document = dume.read("reponse.xml")          # any version → dume.model.Document
    xml = dume.write(document, "4.1.0")            # or "2.1.1"
    report = dume.validate(xml)                    # XSD + Schematron
    xml, losses = dume.convert(document, "2.1.1")  # what the target cannot carry, listed
    issues = dume.check_response(document, request)  # another procedure, missing answers…
"""

from dume.errors import DumeError, NotEspdError, UnknownVersionError, UnsafeXmlError
from dume.matching import check_response
from dume.reading import read
from dume.writing import convert, write

__all__ = [
    "DumeError",
    "NotEspdError",
    "UnknownVersionError",
    "UnsafeXmlError",
    "check_response",
    "convert",
    "read",
    "validate",
    "write",
]


def validate(source, **kwargs):
    from dume.validation import validate as _validate

    return _validate(source, **kwargs)
