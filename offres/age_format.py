"""The server's structural check of an `age` v1 file (C2SP age specification).

The server never holds a key that opens a bid, so it checks the form, not the content:

- the header: the version line `age-encryption.org/v1`, recipient stanzas (`-> type args`,
  then a base64 body wrapped at 64 columns, its last line shorter), at least one X25519
  stanza — the commission's key is X25519 — and no `scrypt` stanza (a file encrypted with a
  passphrase could be opened by nobody at the ceremony), then the `---` line with a 32-byte
  MAC. Each X25519 stanza's ephemeral share must be a point that a key can meet: a low-order
  point of Curve25519 (or the all-zero point) makes every shared secret all-zero, which `age`
  refuses, so such a file could never be opened. The header is read from the first bytes of
  an upload, so a file that is not age, or that no key could open, is refused at its first
  chunk;
- the payload's length, once the upload is complete: a 16-byte nonce, then chunks of
  64 KiB + 16 bytes of tag, the last one shorter and never empty unless it is the only one.

The age header does not say to whom a file is encrypted (X25519 stanzas are anonymous):
the browser client pins the published recipient, and the test consultation lets a bidder
check the whole chain before the deadline.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

VERSION_LINE = b"age-encryption.org/v1\n"
ARMOR_BEGIN = b"-----BEGIN AGE ENCRYPTED FILE-----"
MAX_HEADER_BYTES = 64 * 1024
CHUNK = 64 * 1024
TAG = 16
NONCE = 16
COLUMNS = 64
_ARGUMENT = re.compile(rb"[\x21-\x7e]+")
# Any scalar will do: X25519 clamps it to a multiple of 8, the cofactor, so the shared secret
# is all-zero exactly when the share is a low-order point, whatever the recipient's key.
_PROBE = X25519PrivateKey.from_private_bytes(bytes(range(1, 33)))


class AgeFormatError(ValueError):
    """Why a file is not a well-formed age v1 file, in French."""


@dataclass(frozen=True)
class Stanza:
    type: str
    arguments: tuple[str, ...]
    body: bytes


@dataclass(frozen=True)
class Header:
    stanzas: tuple[Stanza, ...]
    length: int  # bytes from the start of the file to the payload's nonce

    @property
    def x25519_count(self) -> int:
        return sum(1 for s in self.stanzas if s.type == "X25519")


def _b64(text: bytes, what: str) -> bytes:
    """age's base64: standard alphabet, no padding, canonical."""
    if b"=" in text or not re.fullmatch(rb"[A-Za-z0-9+/]*", text):
        raise AgeFormatError(f"{what} : base64 non conforme (age n'emploie ni « = » ni autre caractère)")
    try:
        decoded = base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
    except binascii.Error:
        raise AgeFormatError(f"{what} : base64 illisible") from None
    if base64.b64encode(decoded).rstrip(b"=") != text:
        raise AgeFormatError(f"{what} : base64 non canonique")
    return decoded


def is_low_order(share: bytes) -> bool:
    """Whether an X25519 share is a low-order point (the all-zero point among them), in any of
    its encodings: with it every shared secret is all-zero, and `age` refuses to decrypt."""
    try:
        _PROBE.exchange(X25519PublicKey.from_public_bytes(share))
    except ValueError:  # cryptography refuses an all-zero shared secret
        return True
    return False


def parse_header(data: bytes) -> Header:
    """Parse the header at the start of `data` (the first bytes of a file, or all of it)."""
    if data.startswith(ARMOR_BEGIN):
        raise AgeFormatError(
            "fichier age en version texte (« armor », option -a) : envoyez le fichier binaire, "
            "chiffré sans -a"
        )
    if not data.startswith(VERSION_LINE):
        raise AgeFormatError(
            "ce fichier n'est pas chiffré avec age : il ne commence pas par « age-encryption.org/v1 ». "
            "Chiffrez-le d'abord pour le destinataire publié (age -r age1… -o fichier.age fichier)."
        )
    position = len(VERSION_LINE)
    stanzas: list[Stanza] = []
    while True:
        end = data.find(b"\n", position)
        if end < 0:
            if len(data) > MAX_HEADER_BYTES:
                raise AgeFormatError(f"en-tête age de plus de {MAX_HEADER_BYTES // 1024} Kio : refusé")
            raise AgeFormatError("en-tête age incomplet : le fichier s'arrête avant la ligne « --- »")
        line = data[position:end]
        if line.startswith(b"--- "):
            mac = _b64(line[4:], "MAC de l'en-tête")
            if len(mac) != 32:
                raise AgeFormatError("MAC de l'en-tête de longueur incorrecte (32 octets attendus)")
            position = end + 1
            break
        if not line.startswith(b"-> "):
            raise AgeFormatError(
                f"en-tête age mal formé, ligne {len(stanzas) + 2} : « -> » ou « --- » attendu"
            )
        parts = line[3:].split(b" ")
        if not parts or not all(_ARGUMENT.fullmatch(p) for p in parts):
            raise AgeFormatError("destinataire mal formé dans l'en-tête age")
        position = end + 1
        body = b""
        while True:
            end = data.find(b"\n", position)
            if end < 0:
                raise AgeFormatError("en-tête age incomplet : corps de destinataire interrompu")
            body_line = data[position:end]
            if len(body_line) > COLUMNS:
                raise AgeFormatError(f"corps de destinataire de plus de {COLUMNS} colonnes")
            body += body_line
            position = end + 1
            if len(body_line) < COLUMNS:
                break
        stanza = Stanza(
            parts[0].decode(), tuple(p.decode() for p in parts[1:]), _b64(body, "corps de destinataire")
        )
        stanzas.append(stanza)
        if position > MAX_HEADER_BYTES:
            raise AgeFormatError(f"en-tête age de plus de {MAX_HEADER_BYTES // 1024} Kio : refusé")
    header = Header(tuple(stanzas), position)
    if any(s.type == "scrypt" for s in stanzas):
        raise AgeFormatError(
            "fichier chiffré avec une phrase de passe (age -p) : la commission ne pourrait pas l'ouvrir. "
            "Chiffrez-le pour le destinataire publié (age -r age1…)."
        )
    for stanza in stanzas:
        if stanza.type == "X25519" and (len(stanza.arguments) != 1 or len(stanza.body) != 32):
            raise AgeFormatError("destinataire X25519 mal formé dans l'en-tête age")
        if stanza.type == "X25519":
            share = _b64(stanza.arguments[0].encode(), "clé éphémère X25519")
            if len(share) != 32:
                raise AgeFormatError("clé éphémère X25519 de longueur incorrecte")
            if is_low_order(share):
                raise AgeFormatError(
                    "la clé éphémère X25519 de l'en-tête est un point d'ordre faible de Curve25519 : "
                    "aucune clé ne pourra jamais ouvrir ce fichier, il ne vaudrait pas offre. "
                    "Chiffrez à nouveau le document avec age (age -r age1… -o fichier.age fichier) ou "
                    "depuis la page de dépôt de la plateforme, puis renvoyez-le."
                )
    if header.x25519_count == 0:
        raise AgeFormatError(
            "aucun destinataire X25519 dans l'en-tête : le fichier n'est pas chiffré pour une clé "
            "age1… publiée"
        )
    return header


def check_length(total: int, header: Header) -> None:
    """The payload's length must be that of an age STREAM: nonce, full chunks, last chunk."""
    payload = total - header.length - NONCE
    if payload < TAG:
        raise AgeFormatError("fichier age tronqué : la charge chiffrée manque")
    full, last = divmod(payload, CHUNK + TAG)
    if last == 0:
        return  # the last chunk is a full one
    if last < TAG:
        raise AgeFormatError("fichier age tronqué ou complété : longueur impossible pour un flux age")
    if last == TAG and full > 0:
        raise AgeFormatError("fichier age mal formé : dernier bloc vide après des blocs pleins")
