"""Reading any ESPD document into the model: safe parsing, version dispatch, the reader."""

from __future__ import annotations

import os
from typing import BinaryIO

from lxml import etree

from dume import safe, versions
from dume.model import Document


def read(source: str | os.PathLike | bytes | BinaryIO) -> Document:
    """The normalised model of the ESPD Request or Response in ``source`` (path, bytes or stream).

    Raises ``dume.errors.DumeError`` (or a subclass) with French messages naming the line.
    """
    return read_tree(safe.parse(safe.read_bytes(source)))


def read_tree(tree: etree._ElementTree) -> Document:
    root = tree.getroot()
    family, version = versions.detect(root)
    return family.read(root, version)
