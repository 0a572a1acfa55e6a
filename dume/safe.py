"""Safe XML parsing: no DTD, no entity expansion, no network, bounded size and depth.

An ESPD document comes from outside (a company's import, an opened envelope). What is refused,
and where:

- a file larger than ``MAX_BYTES`` (20 MiB): refused from its size (``stat`` or the first
  ``MAX_BYTES + 1`` bytes read), before it is parsed;
- any DOCTYPE (hence any internal or external DTD, entity declaration, XXE, « billion laughs »):
  refused when the prolog is scanned, before parsing; the parser is in any case configured
  not to load DTDs, resolve entities or touch the network;
- nesting deeper than 256 levels (ESPD documents go about 12 deep): libxml2's limit without
  ``huge_tree``, enforced while parsing;
- bytes that are not in the declared (or default UTF-8) encoding: the parser's error, in French.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from lxml import etree

from dume.errors import DumeError, UnsafeXmlError

MAX_BYTES = 20 * 1024 * 1024

PROLOG_SCAN = 65536  # bytes of the prolog scanned for a DOCTYPE before parsing

# XML in UTF-16 or UTF-32 has a NUL byte in its first four (« <\0 », « \0< », a BOM then « < »…):
# its head is decoded before the prolog is scanned. Every other encoding libxml2 reads here is
# ASCII-compatible for « < », « ! », « ? » and the keywords.
_WIDE = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\x00<", "utf-16-be"),
    (b"<\x00", "utf-16-le"),
)


_PARSER = etree.XMLParser(
    resolve_entities=False,
    load_dtd=False,
    dtd_validation=False,
    no_network=True,
    huge_tree=False,  # keeps libxml2's limits: depth 256, text nodes 10 MB, no entity amplification
    remove_comments=True,
    remove_pis=True,
    collect_ids=False,
)


def read_bytes(source: str | os.PathLike | bytes | BinaryIO) -> bytes:
    """The document's bytes, refusing oversized input without reading it all."""
    if isinstance(source, bytes):
        data = source
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise DumeError(f"Fichier illisible : {exc.strerror or exc}.") from exc
        if size > MAX_BYTES:
            raise UnsafeXmlError(_too_big(size))
        with path.open("rb") as stream:
            data = stream.read(MAX_BYTES + 1)
    else:
        data = source.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise UnsafeXmlError(_too_big(len(data)))
    return data


def _too_big(size: int) -> str:
    # A stream is read no further than the limit: its size is then only « more than ».
    told = "plus de " if size == MAX_BYTES + 1 else ""
    return (
        f"Fichier trop volumineux ({told}{size / 1024 / 1024:.1f} Mio) : un DUME ne peut dépasser "
        f"{MAX_BYTES // 1024 // 1024} Mio."
    )


def parse(data: bytes) -> etree._ElementTree:
    """Parse ``data`` safely; every refusal is a ``DumeError`` in French with its line."""
    if not data or data.isspace():
        raise DumeError("Fichier vide : ce n'est pas un document XML.")
    # A DOCTYPE (and so any entity declaration) can only stand in the prolog, before the root
    # element: the prolog is scanned, up to PROLOG_SCAN bytes, and a DOCTYPE there is refused
    # before any parsing. One hidden after a longer prolog is still refused below (internalDTD),
    # unexpanded: the parser resolves no entity and loads no DTD. (XML is case-sensitive:
    # « <!doctype » is not a declaration, the parser refuses it.)
    line = _doctype_line(data)
    if line is not None:
        raise UnsafeXmlError(
            "Déclaration DOCTYPE ou ENTITY refusée : un DUME ne contient ni DTD ni entités "
            "(protection contre XXE et l'expansion d'entités).",
            line=line,
        )
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        if "amplification" in str(exc.msg or exc):
            # Entities behind a prolog longer than the scan: libxml2 stops counting them early.
            raise UnsafeXmlError(
                "Expansion d'entités refusée : un DUME ne contient ni DTD ni entités.",
                line=exc.lineno or None,
            ) from exc
        raise DumeError(_syntax_message(exc), line=exc.lineno or None) from exc
    tree = root.getroottree()
    if tree.docinfo.internalDTD is not None or tree.docinfo.doctype:
        raise UnsafeXmlError("Déclaration DOCTYPE refusée.", line=1)
    return tree


def _doctype_line(data: bytes) -> int | None:
    """The line of a DOCTYPE (or a stray ENTITY declaration) in the document's prolog, if any.

    Walks the prolog's markup only (XML declaration, processing instructions, comments) and
    stops at the root element: a few searches per document, where scanning the whole head for
    every marker cost about 170 µs a document (benchmarks/dume.py)."""
    head = data[:PROLOG_SCAN]
    newline: str | bytes = b"\n"
    if b"\x00" in head[:4]:
        for mark, codec in _WIDE:
            if head.startswith(mark):
                # A cut character at the end of the head is dropped, never an error.
                head = head.decode(codec, errors="ignore").lstrip("\ufeff")  # type: ignore[assignment]
                newline = "\n"
                break
    if isinstance(head, str):
        lt, bang, question, comment, comment_end, pi_end = "<", "!", "?", "<!--", "-->", "?>"
        markers: tuple = ("<!DOCTYPE", "<!ENTITY")
    else:
        lt, bang, question, comment, comment_end, pi_end = b"<", b"!", b"?", b"<!--", b"-->", b"?>"
        markers = (b"<!DOCTYPE", b"<!ENTITY")
    position = 0
    while True:
        start = head.find(lt, position)
        if start < 0:
            return None
        following = head[start + 1 : start + 2]
        if following == question:  # the XML declaration or a processing instruction
            end = head.find(pi_end, start + 2)
            if end < 0:
                return None
            position = end + 2
        elif head.startswith(comment, start):
            end = head.find(comment_end, start + 4)
            if end < 0:
                return None
            position = end + 3
        elif following == bang:
            if head.startswith(markers, start):
                return head.count(newline, 0, start) + 1
            return None  # malformed: the parser says so
        else:
            return None  # the root element: no DOCTYPE can follow it


_MESSAGES = (
    ("not proper UTF-8", "octets invalides pour l'encodage UTF-8"),
    ("Input is not proper", "octets invalides pour l'encodage déclaré"),
    (
        "Invalid bytes in character encoding",
        "octets invalides pour l'encodage du document (UTF-8 par défaut)",
    ),
    ("encoding", "encodage invalide ou non pris en charge"),
    ("Document is empty", "document vide"),
    ("Start tag expected", "aucun élément XML trouvé"),
    ("Premature end of data", "document tronqué (balise non fermée)"),
    ("EndTag", "balise de fin invalide"),
    ("Opening and ending tag mismatch", "balise ouvrante et fermante différentes"),
    ("Entity", "référence d'entité refusée"),
    ("xmlParseCharRef", "référence de caractère invalide"),
    ("Char 0x", "caractère interdit en XML"),
    ("Extra content at the end", "contenu après l'élément racine"),
    ("Excessive depth", "imbrication trop profonde (plus de 256 niveaux)"),
    ("Namespace prefix", "préfixe d'espace de noms non déclaré"),
)


def _syntax_message(exc: etree.XMLSyntaxError) -> str:
    raw = str(exc.msg or exc)
    for needle, french in _MESSAGES:
        if needle.lower() in raw.lower():
            detail = french
            break
    else:
        detail = "syntaxe XML invalide"
    column = f", colonne {exc.offset}" if getattr(exc, "offset", None) else ""
    return f"XML mal formé{column} : {detail} (détail de l'analyseur : {raw})."
