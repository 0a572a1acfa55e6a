"""Writing the model in a version, and converting a document from one version to another."""

from __future__ import annotations

from dume import versions
from dume.model import Document


def write(document: Document, version: str) -> bytes:
    """``document`` as ESPD-EDM ``version`` XML (2.1.1 or 4.1.0)."""
    return versions.writer_for(version).write(document)


def convert(document: Document, version: str) -> tuple[bytes, list[str]]:
    """``document`` rewritten in ``version``, and the list (in French) of what it could not carry."""
    from dume.conversion import to_version

    converted, losses = to_version(document, version)
    return write(converted, version), losses
