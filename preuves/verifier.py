"""Standalone verifier of the proofs issued by the platform: anyone can run it.

A bidder, a buyer or a judge must be able to check a receipt without trusting the platform,
so this one file needs nothing but the Python standard library and `cryptography`:

    python verifier.py PREUVE.json [--log-key CLE.pem] [--tsa-ca AC.pem] [--data FICHIER]
    python verifier.py --consistency ANCIEN.json NOUVEAU.json PREUVE.json --log-key CLE.pem
    python verifier.py PREUVE.json --log https://plateforme.example --witness NOM+ID+CLÉ

The platform imports the same pure functions to build what it publishes, which makes this
module the single definition of the formats:

- Merkle tree hashes, inclusion and consistency proofs: RFC 9162 §2.1;
- checkpoints: a C2SP tlog-checkpoint body inside a C2SP signed note, signed with Ed25519;
- timestamps: RFC 3161 tokens (CMS SignedData, RFC 5652), read with the small DER reader
  below rather than an ASN.1 library, so that there is nothing else to install or to trust;
- the JSON proof bundle, checkpoint and consistency-proof files;
- deposit leaves, which publish only a commitment to the deposit's facts: the commitment,
  its opening (in the receipt) and the check of the deposits listed for a consultation.

Code in English; every message is read by a person, so it is in French.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime as dt
import hashlib
import hmac
import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.x509.oid import ExtendedKeyUsageOID

BUNDLE_FORMAT = "marches-ouverts/preuve/1"
LOG_KEY_URL = "/preuves/log/key.pem"
TSA_CA_URL = "/preuves/tsa/ca.pem"
MAX_CHAIN_DEPTH = 8

T = TypeVar("T")


class VerificationError(Exception):
    """A proof that does not hold, or input that cannot be read; the message says which, in French."""


def count(number: int, noun: str) -> str:
    """« 0 feuille », « 1 feuille », « 12 feuilles »: French puts 0 and 1 in the singular."""
    return f"{number} {noun}{'s' if abs(number) > 1 else ''}"


def _short(digest: bytes) -> str:
    return digest[:8].hex() + "…"


# --- Merkle tree (RFC 9162 §2.1) -------------------------------------------------------------

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """MTH of one leaf: the 0x00 prefix keeps a leaf from ever passing for an inner node."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _check_hashes(what: str, values: Sequence[bytes]) -> None:
    for position, value in enumerate(values):
        if not isinstance(value, bytes) or len(value) != 32:
            raise VerificationError(
                f"{what} n°{position + 1} : une empreinte SHA-256 de 32 octets est attendue"
            )


def _check_sizes(**sizes: int) -> None:
    for name, value in sizes.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise VerificationError(f"{name} doit être un entier positif ou nul (reçu : {value!r})")


def _inclusion_length(index: int, size: int) -> int:
    """The number of hashes PATH(index, D[0:size]) holds, following the verifier's own walk."""
    fn, sn, count = index, size - 1, 0
    while sn > 0:
        if fn & 1 == 0 and fn == sn:
            while fn & 1 == 0 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        fn, sn, count = fn >> 1, sn >> 1, count + 1
    return count


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes]) -> bytes:
    """The root that `proof` leads to from the leaf hash at `index` (RFC 9162 §2.1.3.2)."""
    _check_sizes(rang=index, taille=size)
    if index >= size:
        raise VerificationError(
            f"rang {index} hors de l'arbre : un arbre de taille {size} a les rangs 0 à {size - 1}"
            if size
            else f"rang {index} hors de l'arbre : l'arbre de taille 0 est vide"
        )
    _check_hashes("empreinte de la feuille", [leaf])
    _check_hashes("empreinte de la preuve d'inclusion", proof)
    expected = _inclusion_length(index, size)
    if len(proof) != expected:
        raise VerificationError(
            f"preuve d'inclusion de {count(len(proof), 'empreinte')}, alors que le rang {index} d'un arbre "
            f"de taille {size} en demande {expected}"
        )
    fn, sn, root = index, size - 1, leaf
    for sibling in proof:
        if fn & 1 or fn == sn:
            root = node_hash(sibling, root)
            while fn & 1 == 0 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            root = node_hash(root, sibling)
        fn, sn = fn >> 1, sn >> 1
    return root


def verify_inclusion(index: int, size: int, leaf: bytes, proof: list[bytes], root: bytes) -> None:
    computed = root_from_inclusion(index, size, leaf, proof)
    _check_hashes("racine attendue", [root])
    if computed != root:
        raise VerificationError(
            f"la preuve d'inclusion mène à la racine {_short(computed)} alors que la racine attendue "
            f"est {_short(root)}"
        )


def _consistency_length(first: int, second: int) -> int:
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    count = 0 if first & (first - 1) == 0 else 1
    while sn > 0:
        if fn & 1 == 0 and fn == sn:
            while fn & 1 == 0 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        fn, sn, count = fn >> 1, sn >> 1, count + 1
    return count


def verify_consistency(
    first: int, second: int, first_root: bytes, second_root: bytes, proof: list[bytes]
) -> None:
    """The tree of size `second` extends the one of size `first` (RFC 9162 §2.1.4.2): no leaf
    of the older tree was changed, removed or reordered."""
    _check_sizes(first=first, second=second)
    _check_hashes("racine", [first_root, second_root])
    _check_hashes("empreinte de la preuve de cohérence", proof)
    if first == 0:
        raise VerificationError(
            "first doit être au moins 1 : un arbre vide n'a rien à prouver (RFC 9162 §2.1.4)"
        )
    if first > second:
        raise VerificationError(f"first ({first}) doit être inférieur ou égal à second ({second})")
    if first == second:
        if proof:
            raise VerificationError(
                "entre deux arbres de même taille la preuve de cohérence est vide "
                f"({count(len(proof), 'empreinte')} reçues)"
            )
        if first_root != second_root:
            raise VerificationError(
                f"deux racines différentes pour la même taille {first} : {_short(first_root)} et "
                f"{_short(second_root)}"
            )
        return
    expected = _consistency_length(first, second)
    if len(proof) != expected:
        raise VerificationError(
            f"preuve de cohérence de {count(len(proof), 'empreinte')}, alors que passer de la taille {first} "
            f"à {second} en demande {expected}"
        )
    path = [first_root, *proof] if first & (first - 1) == 0 else list(proof)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    first_hash = second_hash = path[0]
    for value in path[1:]:
        if fn & 1 or fn == sn:
            first_hash = node_hash(value, first_hash)
            second_hash = node_hash(value, second_hash)
            while fn & 1 == 0 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            second_hash = node_hash(second_hash, value)
        fn, sn = fn >> 1, sn >> 1
    for computed, expected, size, which in (
        (first_hash, first_root, first, "l'ancienne"),
        (second_hash, second_root, second, "la nouvelle"),
    ):
        if computed != expected:
            raise VerificationError(
                f"la preuve de cohérence mène à {which} racine {_short(computed)} alors que celle du point "
                f"de contrôle de taille {size} est {_short(expected)} : l'arbre de taille {second} ne "
                f"prolonge pas celui de taille {first}, l'historique du journal a été réécrit"
            )


# --- Checkpoints: C2SP tlog-checkpoint in a C2SP signed note ---------------------------------

EM_DASH = "\u2014"
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
MAX_TREE_SIZE = 2**64 - 1  # C2SP tlog-checkpoint: the size is a uint64


def _note_size(text: str) -> int:
    """The decimal tree size of a note's second line (no sign, no leading zero, a uint64)."""
    if not _DECIMAL.fullmatch(text):
        raise VerificationError(
            f"la deuxième ligne de la note (« {text[:40]} ») n'est pas une taille décimale"
        )
    # Checked before int(): Python refuses to read more than 4300 digits (ValueError).
    if len(text) > 20 or int(text) > MAX_TREE_SIZE:
        raise VerificationError(
            f"la taille de la note ({text[:24]}{'…' if len(text) > 24 else ''}) dépasse 2^64 − 1"
        )
    return int(text)


def note_body(origin: str, size: int, root: bytes) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode()}\n"


def key_id(name: str, public_key: bytes) -> bytes:
    """C2SP signed-note key hash of an Ed25519 key (signature type 0x01)."""
    return hashlib.sha256(name.encode() + b"\n" + b"\x01" + public_key).digest()[:4]


def signed_note(body: str, name: str, key_id: bytes, signature: bytes) -> str:
    return f"{body}\n{EM_DASH} {name} {base64.b64encode(key_id + signature).decode()}\n"


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    note: str
    body: str
    signatures: list[tuple[str, bytes, bytes]]
    tsr: bytes | None
    created_at: str | None = None
    # Witnesses' note signature lines over `body` (C2SP tlog-cosignature), published beside
    # the checkpoint: (name, key id, 8-byte timestamp || signature).
    cosignatures: tuple[tuple[str, bytes, bytes], ...] = ()


_TYPE_NAMES: dict[type, str] = {
    int: "un entier",
    str: "une chaîne",
    dict: "un objet",
    list: "une liste",
    bool: "un booléen",
    float: "un nombre décimal",
    type(None): "null",
}


def _get(
    obj: Any, path: str, kind: type[T], *, optional: bool = False, prefix: str = "", owner: str = ""
) -> T:
    """The value at a dotted path of parsed JSON, of the given type; errors name the field
    (`prefix` is the path of `obj` itself, `owner` says whose field it is)."""
    parts = path.split(".")
    value = obj
    for depth, part in enumerate(parts):
        if not isinstance(value, dict) or value.get(part) is None:
            if optional and isinstance(value, dict):
                return None  # type: ignore[return-value]
            missing = ".".join([prefix, *parts[: depth + 1]] if prefix else parts[: depth + 1])
            raise VerificationError(f"champ « {missing} »{owner} absent")
        value = value[part]
    name = f"{prefix}.{path}" if prefix else path
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        got = _TYPE_NAMES.get(type(value), type(value).__name__)
        raise VerificationError(f"champ « {name} »{owner} : {_TYPE_NAMES[kind]} est attendu, {got} reçu")
    return value


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError(
            f"{what} n'est pas du base64 valide (caractères hors de l'alphabet base64 ou longueur incorrecte)"
        ) from None


def _hex(text: str, what: str, *, sizes: Sequence[int] = (32,)) -> bytes:
    if not re.fullmatch(r"(?:[0-9a-f]{2})+", text):
        raise VerificationError(f"{what} n'est pas une empreinte hexadécimale en minuscules")
    value = bytes.fromhex(text)
    if len(value) not in sizes:
        expected = " ou ".join(str(size) for size in sizes)
        raise VerificationError(f"{what} fait {len(value)} octets, {expected} attendus")
    return value


def _parse_note(note: str) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    """Split a signed note into its text and its signature lines (name, key id, signature)."""
    if any(ord(char) < 0x20 and char != "\n" for char in note):
        raise VerificationError("la note contient un caractère de contrôle autre que le saut de ligne")
    if any(0xD800 <= ord(char) <= 0xDFFF for char in note):  # a JSON escape can give one
        raise VerificationError("la note n'est pas du texte UTF-8 valide (demi-paire de substitution)")
    if not note.endswith("\n"):
        raise VerificationError("la note doit se terminer par un saut de ligne")
    split = note.rfind("\n\n")
    if split < 0:
        raise VerificationError("la note n'a pas de ligne vide séparant le texte des signatures")
    body, lines = note[: split + 1], note[split + 2 : -1].split("\n")
    signatures = []
    for number, line in enumerate(lines, 1):
        match = re.fullmatch(rf"{EM_DASH} ([^ +]+) ([A-Za-z0-9+/=]+)", line)
        if not match:
            raise VerificationError(f"ligne de signature n°{number} de la note mal formée : « {line} »")
        blob = _b64(match[2], f"la ligne de signature n°{number}")
        if len(blob) < 5:
            raise VerificationError(f"ligne de signature n°{number} trop courte ({len(blob)} octets)")
        signatures.append((match[1], blob[:4], blob[4:]))
    return body, signatures


def _parse_checkpoint(checkpoint: Any, path: str) -> Checkpoint:
    prefix = f"{path}." if path else ""
    if not isinstance(checkpoint, dict):
        raise VerificationError(
            f"le point de contrôle{' « ' + path + ' »' if path else ''} n'est pas un objet JSON"
        )
    origin = _get(checkpoint, "origin", str, prefix=path)
    size = _get(checkpoint, "size", int, prefix=path)
    root = _hex(_get(checkpoint, "root_hash", str, prefix=path), f"champ « {prefix}root_hash »")
    note = _get(checkpoint, "note", str, prefix=path)
    created_at = _get(checkpoint, "created_at", str, optional=True, prefix=path)
    tsr = None
    if _get(checkpoint, "timestamp", dict, optional=True, prefix=path) is not None:
        tsr = _b64(_get(checkpoint, "timestamp.tsr", str, prefix=path), f"le champ « {prefix}timestamp.tsr »")
    body, signatures = _parse_note(note)
    cosignatures = ()
    cosignature_lines = _get(checkpoint, "cosignatures", list, optional=True, prefix=path)
    if cosignature_lines:
        if not all(isinstance(line, str) for line in cosignature_lines):
            raise VerificationError(
                f"champ « {prefix}cosignatures » : une liste de lignes de signature est attendue"
            )
        _, cosignatures = _parse_note(
            "x\n\n" + "".join(line.rstrip("\n") + "\n" for line in cosignature_lines)
        )
        cosignatures = tuple(cosignatures)
    lines = body[:-1].split("\n")
    if len(lines) < 3:
        raise VerificationError(f"le texte de la note a {len(lines)} lignes, 3 au moins sont attendues")
    if not lines[0]:
        raise VerificationError("la première ligne de la note (l'origine du journal) est vide")
    note_size = _note_size(lines[1])
    note_root = _b64(lines[2], "la troisième ligne de la note (la racine)")
    if len(note_root) != 32:
        raise VerificationError(f"la racine de la note fait {len(note_root)} octets, 32 attendus")
    if lines[0] != origin:
        raise VerificationError(
            f"l'origine de la note (« {lines[0]} ») diffère du champ « {prefix}origin » (« {origin} »)"
        )
    if note_size != size:
        raise VerificationError(
            f"la note annonce {lines[1]} feuilles, le champ « {prefix}size » en annonce {size}"
        )
    if note_root != root:
        raise VerificationError(
            f"la racine de la note ({_short(note_root)}) diffère du champ « {prefix}root_hash » "
            f"({_short(root)})"
        )
    return Checkpoint(origin, size, root, note, body, signatures, tsr, created_at, cosignatures)


def parse_checkpoint(checkpoint: dict) -> Checkpoint:
    """Read a checkpoint JSON object; its fields must agree with the signed note they repeat."""
    return _parse_checkpoint(checkpoint, "")


def _raw_key(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def verify_checkpoint_signature(checkpoint: Checkpoint, public_key: Ed25519PublicKey) -> None:
    """One signature line in the log's name, by this key, verifies over the note's text."""
    expected_id = key_id(checkpoint.origin, _raw_key(public_key))
    named = [sig for sig in checkpoint.signatures if sig[0] == checkpoint.origin]
    if not named:
        names = ", ".join(f"« {sig[0]} »" for sig in checkpoint.signatures)
        raise VerificationError(f"aucune signature au nom de « {checkpoint.origin} » (signataires : {names})")
    matching = [sig for sig in named if sig[1] == expected_id]
    if not matching:
        found = ", ".join(sig[1].hex() for sig in named)
        raise VerificationError(
            f"la note est signée avec la clé d'identifiant {found}, la clé fournie a l'identifiant "
            f"{expected_id.hex()} : ce n'est pas la même clé"
        )
    for _, _, signature in matching:
        try:
            public_key.verify(signature, checkpoint.body.encode("utf-8"))
        except InvalidSignature:
            continue
        return
    raise VerificationError("signature Ed25519 de la note invalide : le texte signé a été modifié")


def parse_checkpoint_note(note: str) -> Checkpoint:
    """A checkpoint from its signed note alone, as a witness receives it (C2SP tlog-witness)."""
    body, _ = _parse_note(note)
    lines = body[:-1].split("\n")
    if len(lines) < 3 or not _DECIMAL.fullmatch(lines[1]):
        raise VerificationError("la note n'est pas un point de contrôle : origine, taille, racine attendues")
    root = _b64(lines[2], "la troisième ligne de la note (la racine)")
    return _parse_checkpoint(
        {"origin": lines[0], "size": _note_size(lines[1]), "root_hash": root.hex(), "note": note}, ""
    )


def vkey(name: str, signature_type: int, public_key: bytes, key_hash: bytes) -> str:
    """A C2SP signed-note verifier key: `name+keyid+base64(type || key)`."""
    return f"{name}+{key_hash.hex()}+{base64.b64encode(bytes([signature_type]) + public_key).decode()}"


def parse_vkey(text: str, signature_type: int, what: str, key_hash: Callable[[str, bytes], bytes]):
    """The name and Ed25519 key of a vkey of `signature_type` (0x01 note signer, 0x04
    cosigner), its key id checked; `what` names it in errors (« du journal », « du témoin »)."""
    parts = text.strip().split("+", 2)
    if len(parts) != 3 or not parts[0]:
        raise VerificationError(
            f"clé {what} « {text[:80]} » mal formée : NOM+IDENTIFIANT+CLÉ (vkey C2SP) attendu"
        )
    name, key_hex, material_b64 = parts
    # C2SP signed-note key names: printable, no space, no "+" (and text that UTF-8 encodes).
    if any(char.isspace() or not char.isprintable() or 0xD800 <= ord(char) <= 0xDFFF for char in name):
        raise VerificationError(
            f"clé {what} « {ascii(name)[1:-1][:80]} » : le nom contient une espace ou un caractère "
            "non imprimable"
        )
    material = _b64(material_b64, f"la clé {what} « {name} »")
    if len(material) != 33 or material[0] != signature_type:
        raise VerificationError(
            f"la clé {what} « {name} » n'est pas une clé Ed25519 de type 0x{signature_type:02x} (32 octets)"
        )
    if key_hex.lower() != key_hash(name, material[1:]).hex():
        raise VerificationError(f"la clé {what} « {name} » n'a pas l'identifiant {key_hex} qu'elle annonce")
    return name, Ed25519PublicKey.from_public_bytes(material[1:])


def log_vkey(origin: str, public_key: Ed25519PublicKey) -> str:
    """The C2SP verifier key of a log: `origin+keyid+base64(0x01 || key)`."""
    raw = _raw_key(public_key)
    return vkey(origin, 0x01, raw, key_id(origin, raw))


def parse_log_vkey(text: str) -> tuple[str, Ed25519PublicKey]:
    return parse_vkey(text, 0x01, "du journal", key_id)


def verify_checkpoint(checkpoint: dict, public_key: Ed25519PublicKey) -> Checkpoint:
    parsed = parse_checkpoint(checkpoint)
    verify_checkpoint_signature(parsed, public_key)
    return parsed


# --- Witnesses' cosignatures (C2SP tlog-cosignature, Ed25519, cosignature/v1) ------------------

COSIGNATURE_TYPE = 0x04
COSIGNATURE_HEADER = "cosignature/v1"


def cosignature_key_id(name: str, public_key: bytes) -> bytes:
    """SHA-256(name || "\\n" || 0x04 || Ed25519 key)[:4], the key hash of a cosigner."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([COSIGNATURE_TYPE]) + public_key).digest()[:4]


def cosigned_message(body: str, timestamp: int) -> bytes:
    """What a cosigner signs: the header line, the time line, then the checkpoint's body."""
    return f"{COSIGNATURE_HEADER}\ntime {timestamp}\n{body}".encode()


def cosignature_line(name: str, public_key: bytes, timestamp: int, signature: bytes) -> str:
    blob = cosignature_key_id(name, public_key) + timestamp.to_bytes(8, "big") + signature
    return f"{EM_DASH} {name} {base64.b64encode(blob).decode()}"


@dataclass(frozen=True)
class Witness:
    """A cosigner the reader trusts: its name and Ed25519 public key, from a C2SP vkey
    `name+keyid+base64(0x04 || key)`."""

    name: str
    public_key: Ed25519PublicKey

    @property
    def raw_key(self) -> bytes:
        return _raw_key(self.public_key)

    @property
    def key_id(self) -> bytes:
        return cosignature_key_id(self.name, self.raw_key)

    @property
    def vkey(self) -> str:
        return vkey(self.name, COSIGNATURE_TYPE, self.raw_key, self.key_id)


def parse_witness_key(text: str) -> Witness:
    return Witness(*parse_vkey(text, COSIGNATURE_TYPE, "du témoin", cosignature_key_id))


def verify_cosignature(body: str, signature: tuple[str, bytes, bytes], witness: Witness) -> int:
    """Check one signature line of `witness` over a checkpoint body; returns its time (POSIX)."""
    name, key_id, blob = signature
    if name != witness.name or key_id != witness.key_id:
        raise VerificationError(
            f"la contresignature de « {name} » n'est pas de la clé du témoin « {witness.name} »"
        )
    if len(blob) != 8 + 64:
        raise VerificationError(
            f"contresignature de « {name} » : {len(blob)} octets, "
            "72 attendus (horodatage et signature Ed25519)"
        )
    timestamp = int.from_bytes(blob[:8], "big")
    if timestamp >= 2**63:
        raise VerificationError(f"contresignature de « {name} » : horodatage hors limites")
    try:
        witness.public_key.verify(blob[8:], cosigned_message(body, timestamp))
    except InvalidSignature:
        raise VerificationError(
            f"contresignature de « {name} » invalide : elle ne porte pas sur ce point de contrôle"
        ) from None
    return timestamp


def verify_cosignatures(checkpoint: Checkpoint, witnesses: Sequence[Witness], required: int) -> list[str]:
    """The names of the given witnesses whose cosignature of `checkpoint` verifies; at least
    `required` of them, or VerificationError. Lines of unknown witnesses are ignored (C2SP)."""
    valid: list[str] = []
    problems: list[str] = []
    for witness in witnesses:
        lines = [
            sig for sig in checkpoint.cosignatures if sig[0] == witness.name and sig[1] == witness.key_id
        ]
        for line in lines:
            try:
                verify_cosignature(checkpoint.body, line, witness)
            except VerificationError as exc:
                problems.append(str(exc))
                continue
            valid.append(witness.name)
            break
    if len(valid) < required:
        seen = ", ".join(f"« {name} »" for name in valid) or "aucune"
        detail = f" ({'; '.join(problems)})" if problems else ""
        raise VerificationError(
            f"{count(required, 'contresignature')} de témoins désignés exigée(s), valides : {seen}{detail}"
        )
    return valid


# --- A small DER reader ----------------------------------------------------------------------

_TAG_NAMES = {
    0x01: "BOOLEAN",
    0x02: "INTEGER",
    0x03: "BIT STRING",
    0x04: "OCTET STRING",
    0x05: "NULL",
    0x06: "OBJECT IDENTIFIER",
    0x0C: "UTF8String",
    0x18: "GeneralizedTime",
    0x30: "SEQUENCE",
    0x31: "SET",
    0x80: "[0] implicite",
    0xA0: "[0]",
    0xA1: "[1]",
}


def _tag_name(tag: int) -> str:
    return _TAG_NAMES.get(tag, f"0x{tag:02x}")


@dataclass(frozen=True)
class _Der:
    tag: int
    value: bytes
    raw: bytes


def _read(data: bytes, pos: int, what: str) -> tuple[_Der, int]:
    """One TLV at `pos`, strictly DER: definite, minimal lengths that stay inside `data`."""
    end = len(data)
    if pos + 2 > end:
        raise VerificationError(f"{what} : fin inattendue des données")
    tag, first = data[pos], data[pos + 1]
    if tag & 0x1F == 0x1F:
        raise VerificationError(f"{what} : étiquette ASN.1 à numéro long non prise en charge")
    start = pos + 2
    if first == 0x80:
        raise VerificationError(f"{what} : longueur indéfinie, interdite en DER")
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count > 4:
            raise VerificationError(f"{what} : longueur codée sur {count} octets, trop grande")
        if start + count > end:
            raise VerificationError(f"{what} : longueur tronquée")
        length = int.from_bytes(data[start : start + count], "big")
        if length < 0x80 or data[start] == 0:
            raise VerificationError(f"{what} : longueur non minimale, interdite en DER")
        start += count
    if start + length > end:
        raise VerificationError(
            f"{what} : la longueur annoncée ({length} octets) dépasse la fin des données "
            f"({end - start} restants)"
        )
    return _Der(tag, data[start : start + length], data[pos : start + length]), start + length


def _parse(data: bytes, what: str) -> _Der:
    node, end = _read(data, 0, what)
    if end != len(data):
        raise VerificationError(f"{what} : {len(data) - end} octets en trop après la fin de la structure")
    return node


def _items(node: _Der, what: str) -> list[_Der]:
    if not node.tag & 0x20:
        raise VerificationError(f"{what} : structure construite attendue, {_tag_name(node.tag)} reçu")
    items, pos = [], 0
    while pos < len(node.value):
        item, pos = _read(node.value, pos, what)
        items.append(item)
    return items


def _expect(node: _Der, tag: int, what: str) -> _Der:
    if node.tag != tag:
        raise VerificationError(f"{what} : {_tag_name(tag)} attendu, {_tag_name(node.tag)} reçu")
    return node


class _Fields:
    """The elements of a SEQUENCE read in order, optional ones recognised by their tag."""

    def __init__(self, node: _Der, what: str, tag: int = 0x30) -> None:
        self.items = _items(_expect(node, tag, what), what)
        self.pos = 0
        self.what = what

    def next(self, tag: int, name: str) -> _Der:
        if self.pos >= len(self.items):
            raise VerificationError(f"{self.what} : élément « {name} » absent")
        node = _expect(self.items[self.pos], tag, f"{self.what}, {name}")
        self.pos += 1
        return node

    def optional(self, tag: int) -> _Der | None:
        if self.pos < len(self.items) and self.items[self.pos].tag == tag:
            self.pos += 1
            return self.items[self.pos - 1]
        return None

    def done(self) -> None:
        if self.pos < len(self.items):
            extra = _tag_name(self.items[self.pos].tag)
            raise VerificationError(f"{self.what} : élément inattendu ({extra}) après le dernier champ")


def _integer(node: _Der, what: str) -> int:
    _expect(node, 0x02, what)
    value = node.value
    if not value:
        raise VerificationError(f"{what} : entier vide")
    if len(value) > 1 and ((value[0] == 0 and value[1] < 0x80) or (value[0] == 0xFF and value[1] >= 0x80)):
        raise VerificationError(f"{what} : entier non minimal, interdit en DER")
    return int.from_bytes(value, "big", signed=True)


def _oid(node: _Der, what: str) -> str:
    _expect(node, 0x06, what)
    arcs, current = [], 0
    if not node.value or node.value[-1] & 0x80:
        raise VerificationError(f"{what} : identifiant d'objet tronqué")
    fresh = True
    for byte in node.value:
        if fresh and byte == 0x80:
            raise VerificationError(f"{what} : identifiant d'objet non minimal")
        current = current << 7 | byte & 0x7F
        fresh = not byte & 0x80
        if fresh:
            arcs.append(current)
            current = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(arc) for arc in [first, arcs[0] - 40 * first, *arcs[1:]])


def _octets(node: _Der, what: str) -> bytes:
    return _expect(node, 0x04, what).value


def _algorithm(node: _Der, what: str) -> str:
    """An AlgorithmIdentifier's OID; parameters may only be absent or NULL for the ones we use."""
    fields = _Fields(node, what)
    oid = _oid(fields.next(0x06, "algorithm"), what)
    params = fields.optional(0x05)
    if params is not None and params.value:
        raise VerificationError(f"{what} : paramètre NULL non vide")
    fields.done()
    return oid


def _generalized_time(node: _Der, what: str) -> dt.datetime:
    _expect(node, 0x18, what)
    text = node.value.decode("ascii", errors="replace")
    match = re.fullmatch(r"(\d{14})(?:\.(\d{1,9}))?Z", text)
    if not match:
        raise VerificationError(
            f"{what} : « {text} » n'est pas une date GeneralizedTime UTC (AAAAMMJJhhmmss[.f]Z)"
        )
    try:
        moment = dt.datetime.strptime(match[1], "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)
    except ValueError:
        raise VerificationError(f"{what} : « {text} » n'est pas une date valide") from None
    return moment.replace(microsecond=int((match[2] or "").ljust(6, "0")[:6]))


# --- RFC 3161 timestamp tokens ---------------------------------------------------------------

OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
OID_TST_INFO = "1.2.840.113549.1.9.16.1.4"
OID_CONTENT_TYPE = "1.2.840.113549.1.9.3"
OID_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
OID_SIGNING_CERTIFICATE = "1.2.840.113549.1.9.16.2.12"
OID_SIGNING_CERTIFICATE_V2 = "1.2.840.113549.1.9.16.2.47"

_DIGESTS = {
    "2.16.840.1.101.3.4.2.1": "sha256",
    "2.16.840.1.101.3.4.2.2": "sha384",
    "2.16.840.1.101.3.4.2.3": "sha512",
}
_HASH_CLASSES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
_SIGNATURES = {
    "1.2.840.10045.4.3.2": ("ecdsa", "sha256"),
    "1.2.840.10045.4.3.3": ("ecdsa", "sha384"),
    "1.2.840.10045.4.3.4": ("ecdsa", "sha512"),
    "1.2.840.113549.1.1.11": ("rsa", "sha256"),
    "1.2.840.113549.1.1.12": ("rsa", "sha384"),
    "1.2.840.113549.1.1.13": ("rsa", "sha512"),
    "1.2.840.113549.1.1.1": ("rsa", None),
}
_CURVES = {"secp256r1", "secp384r1", "secp521r1"}
_REFUSED_NAMES = {
    "1.3.14.3.2.26": "SHA-1",
    "1.2.840.113549.2.5": "MD5",
    "2.16.840.1.101.3.4.2.4": "SHA-224",
    "2.16.840.1.101.3.4.2.8": "SHA3-256",
    "2.16.840.1.101.3.4.2.9": "SHA3-384",
    "2.16.840.1.101.3.4.2.10": "SHA3-512",
    "1.2.840.113549.1.1.4": "md5WithRSAEncryption",
    "1.2.840.113549.1.1.5": "sha1WithRSAEncryption",
    "1.2.840.113549.1.1.10": "RSASSA-PSS",
    "1.2.840.113549.1.1.14": "sha224WithRSAEncryption",
    "1.2.840.10045.4.1": "ecdsa-with-SHA1",
    "1.2.840.10045.4.3.1": "ecdsa-with-SHA224",
    "1.2.840.10040.4.3": "dsa-with-SHA1",
    "2.16.840.1.101.3.4.3.2": "dsa-with-SHA256",
    "1.3.101.112": "Ed25519",
    "1.3.101.113": "Ed448",
}
_STATUSES = {
    0: "granted",
    1: "grantedWithMods",
    2: "rejection",
    3: "waiting",
    4: "revocationWarning",
    5: "revocationNotification",
}
_FAILURES = {
    0: "badAlg",
    2: "badRequest",
    5: "badDataFormat",
    14: "timeNotAvailable",
    15: "unacceptedPolicy",
    16: "unacceptedExtension",
    17: "addInfoNotAvailable",
    25: "systemFailure",
}


def _digest_name(oid: str, what: str) -> str:
    if oid not in _DIGESTS:
        name = _REFUSED_NAMES.get(oid, oid)
        raise VerificationError(
            f"{what} : algorithme d'empreinte {name} non accepté (SHA-256, SHA-384 ou SHA-512)"
        )
    return _DIGESTS[oid]


@dataclass(frozen=True)
class TimestampInfo:
    gen_time: dt.datetime
    serial_number: int
    policy: str
    hash_algorithm: str
    hashed_message: bytes
    nonce: int | None
    tsa_name: str
    signer_certificate: x509.Certificate
    accuracy: str | None


@dataclass(frozen=True)
class _SignerInfo:
    sid: _Der
    digest: str
    signed_attrs: _Der
    signature_algorithm: str
    signature: bytes


@dataclass(frozen=True)
class _TstInfo:
    policy: str
    hash_algorithm: str
    hashed_message: bytes
    serial_number: int
    gen_time: dt.datetime
    accuracy: str | None
    nonce: int | None


def _failure_names(node: _Der) -> str:
    bits = node.value[1:] if node.value else b""
    names = [
        _FAILURES.get(bit, str(bit)) for bit in range(len(bits) * 8) if bits[bit // 8] >> (7 - bit % 8) & 1
    ]
    return ", ".join(names)


def _token_content_info(tsr: bytes) -> _Der:
    """The TimeStampToken, from a TimeStampResp (status checked) or as given when bare."""
    outer = _parse(tsr, "jeton d'horodatage")
    items = _items(_expect(outer, 0x30, "jeton d'horodatage"), "jeton d'horodatage")
    if not items or items[0].tag == 0x06:
        return outer
    fields = _Fields(outer, "réponse d'horodatage (TimeStampResp)")
    status = _Fields(fields.next(0x30, "status"), "statut de la réponse d'horodatage")
    code = _integer(status.next(0x02, "status"), "statut de la réponse d'horodatage")
    texts = status.optional(0x30)
    fail_info = status.optional(0x03)
    status.done()
    if code not in (0, 1):
        detail = f"statut {code} ({_STATUSES.get(code, 'inconnu')})"
        if texts is not None:
            strings = [item.value.decode("utf-8", errors="replace") for item in _items(texts, "statusString")]
            detail += " : " + " ; ".join(strings)
        if fail_info is not None:
            detail += f" [{_failure_names(fail_info)}]"
        raise VerificationError(f"l'autorité d'horodatage a refusé la demande : {detail}")
    token = fields.optional(0x30)
    fields.done()
    if token is None:
        raise VerificationError("la réponse d'horodatage accorde la demande mais ne contient aucun jeton")
    return token


def _signed_data(token: _Der) -> tuple[bytes, list[bytes], _SignerInfo]:
    """eContent (the DER TSTInfo), the embedded certificates and the single SignerInfo."""
    content_info = _Fields(token, "jeton d'horodatage (ContentInfo)")
    content_type = _oid(content_info.next(0x06, "contentType"), "type de contenu du jeton")
    if content_type != OID_SIGNED_DATA:
        raise VerificationError(
            f"le jeton est de type {content_type}, id-signedData ({OID_SIGNED_DATA}) attendu"
        )
    wrapper = content_info.next(0xA0, "content")
    content_info.done()
    inner = _items(wrapper, "contenu du jeton")
    if len(inner) != 1:
        raise VerificationError("contenu du jeton : un seul SignedData attendu")
    signed = _Fields(inner[0], "SignedData")
    _integer(signed.next(0x02, "version"), "SignedData, version")
    _items(signed.next(0x31, "digestAlgorithms"), "SignedData, digestAlgorithms")
    encap = _Fields(signed.next(0x30, "encapContentInfo"), "encapContentInfo")
    e_type = _oid(encap.next(0x06, "eContentType"), "encapContentInfo, eContentType")
    if e_type != OID_TST_INFO:
        raise VerificationError(
            f"le contenu signé est de type {e_type}, id-ct-TSTInfo ({OID_TST_INFO}) attendu"
        )
    e_wrapper = encap.optional(0xA0)
    encap.done()
    if e_wrapper is None:
        raise VerificationError("le jeton ne contient pas le TSTInfo signé (eContent absent)")
    e_items = _items(e_wrapper, "eContent")
    if len(e_items) != 1:
        raise VerificationError("eContent : une seule OCTET STRING attendue")
    e_content = _octets(e_items[0], "eContent")
    cert_set = signed.optional(0xA0)
    signed.optional(0xA1)
    signer_infos = _items(signed.next(0x31, "signerInfos"), "SignedData, signerInfos")
    signed.done()
    certificates = []
    if cert_set is not None:
        certificates = [item.raw for item in _items(cert_set, "certificats du jeton") if item.tag == 0x30]
    if len(signer_infos) != 1:
        raise VerificationError(f"le jeton a {len(signer_infos)} signataires, un seul est attendu")
    info = _Fields(signer_infos[0], "SignerInfo")
    _integer(info.next(0x02, "version"), "SignerInfo, version")
    sid = info.optional(0x30) or info.next(0x80, "sid")
    digest = _digest_name(_algorithm(info.next(0x30, "digestAlgorithm"), "SignerInfo"), "SignerInfo")
    attrs = info.optional(0xA0)
    if attrs is None:
        raise VerificationError("le signataire n'a pas d'attributs signés (signedAttrs), obligatoires ici")
    sig_alg = _algorithm(info.next(0x30, "signatureAlgorithm"), "SignerInfo, signatureAlgorithm")
    signature = _octets(info.next(0x04, "signature"), "SignerInfo, signature")
    info.optional(0xA1)
    info.done()
    return e_content, certificates, _SignerInfo(sid, digest, attrs, sig_alg, signature)


def _accuracy_text(node: _Der) -> str:
    fields = _Fields(node, "TSTInfo, accuracy")
    parts = []
    seconds = fields.optional(0x02)
    if seconds is not None:
        parts.append(f"{_integer(seconds, 'accuracy, seconds')} s")
    for tag, unit in ((0x80, "ms"), (0x81, "µs")):
        part = fields.optional(tag)
        if part is not None:
            parts.append(f"{_integer(_Der(0x02, part.value, part.raw), 'accuracy')} {unit}")
    fields.done()
    return "± " + " ".join(parts) if parts else "± 0 s"


def _tst_info(e_content: bytes) -> _TstInfo:
    fields = _Fields(_parse(e_content, "TSTInfo"), "TSTInfo")
    version = _integer(fields.next(0x02, "version"), "TSTInfo, version")
    if version != 1:
        raise VerificationError(f"TSTInfo de version {version}, la version 1 est attendue")
    policy = _oid(fields.next(0x06, "policy"), "TSTInfo, policy")
    imprint = _Fields(fields.next(0x30, "messageImprint"), "TSTInfo, messageImprint")
    hash_algorithm = _digest_name(
        _algorithm(imprint.next(0x30, "hashAlgorithm"), "messageImprint"), "messageImprint"
    )
    hashed = _octets(imprint.next(0x04, "hashedMessage"), "messageImprint, hashedMessage")
    imprint.done()
    if len(hashed) != hashlib.new(hash_algorithm).digest_size:
        raise VerificationError(
            f"l'empreinte horodatée fait {len(hashed)} octets, {hash_algorithm} en produit "
            f"{hashlib.new(hash_algorithm).digest_size}"
        )
    serial = _integer(fields.next(0x02, "serialNumber"), "TSTInfo, serialNumber")
    gen_time = _generalized_time(fields.next(0x18, "genTime"), "TSTInfo, genTime")
    accuracy = fields.optional(0x30)
    ordering = fields.optional(0x01)
    if ordering is not None and len(ordering.value) != 1:
        raise VerificationError("TSTInfo, ordering : booléen mal formé")
    nonce = fields.optional(0x02)
    fields.optional(0xA0)
    fields.optional(0xA1)
    fields.done()
    return _TstInfo(
        policy,
        hash_algorithm.upper().replace("SHA", "SHA-"),
        hashed,
        serial,
        gen_time,
        _accuracy_text(accuracy) if accuracy is not None else None,
        _integer(nonce, "TSTInfo, nonce") if nonce is not None else None,
    )


def _load_certificate(der: bytes, what: str) -> x509.Certificate:
    """A certificate, with the parts the checks use read now: `cryptography` parses them
    lazily, and a malformed field must fail here, as a VerificationError, not mid-check."""
    try:
        cert = x509.load_der_x509_certificate(der)
        _ = cert.subject, cert.issuer, cert.extensions, cert.not_valid_before_utc, cert.not_valid_after_utc
        cert.public_key()
    except Exception:  # noqa: BLE001 (cryptography raises several kinds on malformed DER)
        raise VerificationError(
            f"{what} illisible : certificat X.509 mal formé ou non pris en charge"
        ) from None
    return cert


def _issuer_and_serial(der: bytes, what: str) -> tuple[bytes, int]:
    """The DER of a certificate's issuer Name and its serial, read from the certificate itself
    so that the comparison with the SignerInfo is byte for byte."""
    tbs = _Fields(_Fields(_parse(der, what), what).next(0x30, "tbsCertificate"), what)
    tbs.optional(0xA0)
    serial = _integer(tbs.next(0x02, "serialNumber"), what)
    tbs.next(0x30, "signature")
    return tbs.next(0x30, "issuer").raw, serial


def _signer_certificate(
    sid: _Der,
    token_certs: list[tuple[bytes, x509.Certificate]],
    ca_certs: list[tuple[bytes, x509.Certificate]],
) -> tuple[bytes, x509.Certificate]:
    candidates = [*token_certs, *ca_certs]
    if sid.tag == 0x80:
        for der, cert in candidates:
            try:
                ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
            except (x509.ExtensionNotFound, ValueError):
                continue
            if ski == sid.value:
                return der, cert
        raise VerificationError(
            f"certificat du signataire introuvable (identifiant de clé {sid.value.hex()})"
        )
    ids = _Fields(sid, "SignerInfo, sid")
    issuer = ids.next(0x30, "issuer").raw
    serial = _integer(ids.next(0x02, "serialNumber"), "SignerInfo, sid")
    ids.done()
    for der, cert in candidates:
        if _issuer_and_serial(der, "certificat") == (issuer, serial):
            return der, cert
    raise VerificationError(
        f"certificat du signataire (numéro de série {serial:x}) introuvable dans le jeton et parmi les "
        "certificats de l'autorité fournis"
    )


def _check_signing_certificate(attr_type: str, value: _Der, signer_der: bytes) -> None:
    """ESS signingCertificate(V2): the signature covers the hash of the very certificate used."""
    label = "signingCertificateV2" if attr_type == OID_SIGNING_CERTIFICATE_V2 else "signingCertificate"
    certs = _items(_expect(_Fields(value, label).next(0x30, "certs"), 0x30, label), label)
    if not certs:
        raise VerificationError(f"{label} ne désigne aucun certificat")
    cert_id = _Fields(certs[0], label)
    algorithm = "sha1"
    if attr_type == OID_SIGNING_CERTIFICATE_V2:
        algorithm_node = cert_id.optional(0x30)
        algorithm = (
            "sha256" if algorithm_node is None else _digest_name(_algorithm(algorithm_node, label), label)
        )
    cert_hash = _octets(cert_id.next(0x04, "certHash"), label)
    issuer_serial = cert_id.optional(0x30)
    cert_id.done()
    if hashlib.new(algorithm, signer_der).digest() != cert_hash:
        raise VerificationError(
            f"{label} désigne un autre certificat que celui du signataire (empreinte {algorithm} différente)"
        )
    if issuer_serial is not None:
        fields = _Fields(issuer_serial, f"{label}, issuerSerial")
        names = _items(fields.next(0x30, "issuer"), f"{label}, issuer")
        serial = _integer(fields.next(0x02, "serialNumber"), f"{label}, serialNumber")
        issuer_der, cert_serial = _issuer_and_serial(signer_der, "certificat du signataire")
        directory = [_items(name, label) for name in names if name.tag == 0xA4]
        if serial != cert_serial or not any(len(d) == 1 and d[0].raw == issuer_der for d in directory):
            raise VerificationError(f"{label} : émetteur ou numéro de série différent de ceux du signataire")


def _check_signed_attributes(signer: _SignerInfo, e_content: bytes, signer_der: bytes) -> None:
    attributes: dict[str, _Der] = {}
    for attribute in _items(signer.signed_attrs, "attributs signés"):
        fields = _Fields(attribute, "attribut signé")
        attr_type = _oid(fields.next(0x06, "attrType"), "attribut signé")
        values = _items(fields.next(0x31, "attrValues"), f"attribut signé {attr_type}")
        fields.done()
        if attr_type in attributes:
            raise VerificationError(f"attribut signé {attr_type} présent deux fois")
        if len(values) != 1:
            raise VerificationError(
                f"attribut signé {attr_type} : une seule valeur attendue, {len(values)} reçues"
            )
        attributes[attr_type] = values[0]
    if OID_CONTENT_TYPE not in attributes:
        raise VerificationError("attribut signé contentType absent")
    if _oid(attributes[OID_CONTENT_TYPE], "attribut contentType") != OID_TST_INFO:
        raise VerificationError("l'attribut signé contentType n'est pas id-ct-TSTInfo")
    if OID_MESSAGE_DIGEST not in attributes:
        raise VerificationError("attribut signé messageDigest absent")
    if (
        _octets(attributes[OID_MESSAGE_DIGEST], "attribut messageDigest")
        != hashlib.new(signer.digest, e_content).digest()
    ):
        raise VerificationError(
            "l'empreinte signée (messageDigest) ne correspond pas au TSTInfo : le contenu du jeton a "
            "été modifié"
        )
    present = [oid for oid in (OID_SIGNING_CERTIFICATE_V2, OID_SIGNING_CERTIFICATE) if oid in attributes]
    if not present:
        raise VerificationError(
            "ni signingCertificateV2 ni signingCertificate parmi les attributs signés (RFC 3161 §2.4.2, "
            "RFC 5816) : rien ne lie la signature au certificat de l'autorité"
        )
    for oid in present:
        _check_signing_certificate(oid, attributes[oid], signer_der)


def _check_signature(signer: _SignerInfo, cert: x509.Certificate) -> None:
    if signer.signature_algorithm not in _SIGNATURES:
        name = _REFUSED_NAMES.get(signer.signature_algorithm, signer.signature_algorithm)
        raise VerificationError(f"algorithme de signature {name} non accepté (ECDSA ou RSA PKCS#1 v1.5)")
    family, digest = _SIGNATURES[signer.signature_algorithm]
    algorithm = _HASH_CLASSES[digest or signer.digest]()
    signed = b"\x31" + signer.signed_attrs.raw[1:]
    key = cert.public_key()
    try:
        if family == "ecdsa":
            if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name not in _CURVES:
                raise VerificationError(
                    "signature ECDSA, mais la clé du signataire n'est pas P-256, P-384 ou P-521"
                )
            key.verify(signer.signature, signed, ec.ECDSA(algorithm))
        else:
            if not isinstance(key, rsa.RSAPublicKey):
                raise VerificationError("signature RSA, mais la clé du signataire n'est pas une clé RSA")
            key.verify(signer.signature, signed, padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        raise VerificationError(
            "signature du jeton invalide : les attributs signés ont été modifiés"
        ) from None


def _check_timestamping_usage(cert: x509.Certificate) -> None:
    try:
        extension = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:
        raise VerificationError(
            "le certificat du signataire n'a pas d'usage étendu (EKU) timeStamping"
        ) from None
    if ExtendedKeyUsageOID.TIME_STAMPING not in extension.value:
        raise VerificationError(
            "le certificat du signataire n'est pas autorisé à horodater (EKU sans timeStamping)"
        )
    if not extension.critical:
        raise VerificationError(
            "l'usage étendu (EKU) du certificat du signataire n'est pas critique (RFC 3161 §2.3)"
        )


def _extension(cert: x509.Certificate, kind: type[T]) -> T | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value  # type: ignore[arg-type]
    except x509.ExtensionNotFound:
        return None


def _check_chain(
    signer: x509.Certificate, pool: list[x509.Certificate], anchors: list[x509.Certificate], at: dt.datetime
) -> list[x509.Certificate]:
    """Walk issuer links from the signer up to a supplied CA certificate, all valid at genTime."""
    anchor_ders = {cert.public_bytes(serialization.Encoding.DER) for cert in anchors}
    chain, cert = [signer], signer
    for _ in range(MAX_CHAIN_DEPTH):
        subject = cert.subject.rfc4514_string()
        if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
            raise VerificationError(
                f"le certificat « {subject} » n'était pas valide le {at:%Y-%m-%d %H:%M:%S} UTC (valide du "
                f"{cert.not_valid_before_utc:%Y-%m-%d} au {cert.not_valid_after_utc:%Y-%m-%d})"
            )
        der = cert.public_bytes(serialization.Encoding.DER)
        if der in anchor_ders:
            return chain
        issuer = None
        for candidate in [*anchors, *pool]:
            if candidate.public_bytes(serialization.Encoding.DER) == der:
                continue
            try:
                cert.verify_directly_issued_by(candidate)
            except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
                continue
            issuer = candidate
            break
        if issuer is None:
            raise VerificationError(
                f"le certificat « {subject} » n'est émis par aucune des autorités de confiance fournies "
                f"(émetteur annoncé : « {cert.issuer.rfc4514_string()} »)"
            )
        constraints = _extension(issuer, x509.BasicConstraints)
        usage = _extension(issuer, x509.KeyUsage)
        if constraints is None or not constraints.ca or (usage is not None and not usage.key_cert_sign):
            raise VerificationError(
                f"l'émetteur « {issuer.subject.rfc4514_string()} » n'est pas une autorité de certification "
                "(basicConstraints CA, keyCertSign)"
            )
        chain.append(issuer)
        cert = issuer
    raise VerificationError(f"chaîne de certificats de plus de {MAX_CHAIN_DEPTH} maillons")


def verify_timestamp(
    tsr: bytes, *, hashed_message: bytes | None, ca_certs: list[x509.Certificate]
) -> TimestampInfo:
    """Check an RFC 3161 token entirely: status, CMS signature, signer binding, EKU, chain to
    `ca_certs` at genTime and, if given, the imprint."""
    if not isinstance(tsr, bytes | bytearray):
        raise VerificationError("le jeton d'horodatage doit être donné en octets")
    token = _token_content_info(bytes(tsr))
    e_content, cert_ders, signer = _signed_data(token)
    tst = _tst_info(e_content)
    if not ca_certs:
        raise VerificationError("aucun certificat d'autorité d'horodatage de confiance fourni")
    token_certs = [
        (der, _load_certificate(der, f"certificat n°{number} du jeton"))
        for number, der in enumerate(cert_ders, 1)
    ]
    anchor_ders = [cert.public_bytes(serialization.Encoding.DER) for cert in ca_certs]
    anchors = [(der, _load_certificate(der, "certificat d'autorité fourni")) for der in anchor_ders]
    signer_der, signer_cert = _signer_certificate(signer.sid, token_certs, anchors)
    _check_signed_attributes(signer, e_content, signer_der)
    _check_signature(signer, signer_cert)
    _check_timestamping_usage(signer_cert)
    _check_chain(signer_cert, [cert for _, cert in token_certs], [cert for _, cert in anchors], tst.gen_time)
    if hashed_message is not None and hashed_message != tst.hashed_message:
        raise VerificationError(
            f"le jeton horodate l'empreinte {_short(tst.hashed_message)} alors que {_short(hashed_message)} "
            "était attendue : il porte sur d'autres données"
        )
    return TimestampInfo(
        gen_time=tst.gen_time,
        serial_number=tst.serial_number,
        policy=tst.policy,
        hash_algorithm=tst.hash_algorithm,
        hashed_message=tst.hashed_message,
        nonce=tst.nonce,
        tsa_name=signer_cert.subject.rfc4514_string(),
        signer_certificate=signer_cert,
        accuracy=tst.accuracy,
    )


# --- Reports ---------------------------------------------------------------------------------

FACT_LABELS = {
    "leaf_index": "Rang de la feuille",
    "leaf_type": "Type de la feuille",
    "origin": "Journal",
    "tree_size": "Taille de l'arbre",
    "root_hash": "Racine de l'arbre",
    "log_key_sha256": "Empreinte SHA-256 de la clé du journal",
    "checkpoint_gen_time": "Horodatage du point de contrôle",
    "checkpoint_tsa": "Autorité d'horodatage du point de contrôle",
    "checkpoint_serial": "Numéro de série du jeton du point de contrôle",
    "leaf_gen_time": "Horodatage de la feuille",
    "leaf_tsa": "Autorité d'horodatage de la feuille",
    "leaf_serial": "Numéro de série du jeton de la feuille",
    "leaf_accuracy": "Précision de l'horodatage de la feuille",
    "data_sha256": "Empreinte SHA-256 du fichier fourni",
    "old_size": "Taille de l'ancien arbre",
    "old_root": "Ancienne racine",
    "new_size": "Taille du nouvel arbre",
    "new_root": "Nouvelle racine",
    "current_size": "Taille du journal actuel",
    "current_root": "Racine du journal actuel",
}


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    message: str
    done: bool = True  # False: not attempted, because a check it needs did not pass


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    # False when a key came from the bundle itself: the checks then prove only that the
    # bundle is consistent, not that this platform issued it.
    authenticated: bool = True

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)

    @property
    def first_failure(self) -> Check | None:
        return next((check for check in self.checks if not check.ok), None)


class _Checks:
    """Runs checks in order into a report. A check is given the results of the checks it
    needs; when one of those did not pass, it is reported as not done instead of run, so
    that one bad field gives one precise failure rather than a cascade or a crash."""

    def __init__(self, report: Report) -> None:
        self.report = report
        self.results: dict[str, Any] = {}

    def run(self, name: str, action: Callable[..., tuple[Any, str]], *needs: str) -> None:
        missing = [need for need in needs if need not in self.results]
        if missing:
            message = f"non vérifié : « {missing[0]} » n'a pas abouti"
            self.report.checks.append(Check(name, False, message, done=False))
            return
        try:
            value, message = action(*(self.results[need] for need in needs))
        except VerificationError as exc:
            self.report.checks.append(Check(name, False, str(exc)))
            return
        except RecursionError:
            self.report.checks.append(Check(name, False, "structure imbriquée trop profondément"))
            return
        except Exception as exc:  # noqa: BLE001 (a proof must never crash the verifier)
            message = f"donnée inattendue, vérification impossible ({type(exc).__name__})"
            self.report.checks.append(Check(name, False, message))
            return
        self.results[name] = value
        self.report.checks.append(Check(name, True, message))


def load_log_key(pem: bytes | str) -> Ed25519PublicKey:
    """The log's Ed25519 key from a SubjectPublicKeyInfo PEM, as /preuves/log/key.pem serves it."""
    try:
        key = serialization.load_pem_public_key(pem.encode() if isinstance(pem, str) else pem)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise VerificationError(
            "clé publique illisible : un bloc PEM « BEGIN PUBLIC KEY » (SubjectPublicKeyInfo) est attendu"
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise VerificationError("la clé du journal doit être une clé Ed25519")
    return key


def load_certificates(pem: bytes | str) -> list[x509.Certificate]:
    """Certificates from PEM, each read in full now (see _load_certificate)."""
    try:
        certificates = x509.load_pem_x509_certificates(pem.encode() if isinstance(pem, str) else pem)
    except (ValueError, TypeError):
        raise VerificationError(
            "certificats illisibles : un ou plusieurs blocs PEM « BEGIN CERTIFICATE » sont attendus"
        ) from None
    return [
        _load_certificate(cert.public_bytes(serialization.Encoding.DER), f"certificat n° {n}")
        for n, cert in enumerate(certificates, start=1)
    ]


def _fingerprint(key: Ed25519PublicKey) -> str:
    return hashlib.sha256(_raw_key(key)).hexdigest()


def _hash_list(obj: Any, path: str) -> list[bytes]:
    hashes_ = []
    for position, value in enumerate(_get(obj, path, list)):
        if not isinstance(value, str):
            got = _TYPE_NAMES.get(type(value), type(value).__name__)
            raise VerificationError(f"champ « {path}[{position}] » : une chaîne est attendue, {got} reçu")
        hashes_.append(_hex(value, f"champ « {path}[{position}] »"))
    return hashes_


def _present(obj: Any, path: str) -> bool:
    for part in path.split("."):
        if not isinstance(obj, dict) or obj.get(part) is None:
            return False
        obj = obj[part]
    return True


def _describe_token(info: TimestampInfo) -> str:
    return f"jeton de « {info.tsa_name} », genTime {info.gen_time.isoformat(timespec='milliseconds')}"


@dataclass(frozen=True)
class _Leaf:
    index: int
    data: bytes
    content: dict


def _check_format(bundle: Any) -> tuple[str, str]:
    if not isinstance(bundle, dict):
        raise VerificationError("le lot de preuve n'est pas un objet JSON")
    value = _get(bundle, "format", str)
    if value != BUNDLE_FORMAT:
        raise VerificationError(f"format « {value} » inconnu : ce vérificateur lit « {BUNDLE_FORMAT} »")
    return value, f"lot de preuve au format {value}"


def _check_leaf(bundle: dict, report: Report) -> tuple[_Leaf, str]:
    index = _get(bundle, "leaf.index", int)
    data = _b64(_get(bundle, "leaf.data", str), "le champ « leaf.data »")
    try:
        content = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise VerificationError("les données de la feuille ne sont pas de l'UTF-8") from None
    except (ValueError, RecursionError):
        raise VerificationError("les données de la feuille ne sont pas un JSON lisible") from None
    if not isinstance(content, dict) or not isinstance(content.get("type"), str):
        raise VerificationError("les données de la feuille doivent être un objet JSON avec un champ « type »")
    report.facts.update(leaf_index=index, leaf_type=content["type"])
    return _Leaf(index, data, content), f"feuille n°{index} de type « {content['type']} », {len(data)} octets"


def _check_leaf_hash(bundle: dict, leaf: _Leaf) -> tuple[bytes, str]:
    expected = _hex(_get(bundle, "inclusion.leaf_hash", str), "champ « inclusion.leaf_hash »")
    computed = leaf_hash(leaf.data)
    if computed != expected:
        raise VerificationError(
            f"SHA-256(0x00 ‖ données) vaut {_short(computed)}, la preuve d'inclusion porte sur "
            f"{_short(expected)}"
        )
    return computed, f"SHA-256(0x00 ‖ données) = {computed.hex()}"


def _check_index(bundle: dict, leaf: _Leaf) -> tuple[int, str]:
    index = _get(bundle, "inclusion.index", int)
    if index != leaf.index:
        raise VerificationError(
            f"la preuve d'inclusion porte sur le rang {index}, la feuille a le rang {leaf.index}"
        )
    return index, f"rang {index} dans la feuille et dans la preuve d'inclusion"


def _check_checkpoint(bundle: dict, report: Report) -> tuple[Checkpoint, str]:
    point = _parse_checkpoint(_get(bundle, "checkpoint", dict), "checkpoint")
    report.facts.update(origin=point.origin, tree_size=point.size, root_hash=point.root.hex())
    return (
        point,
        f"note bien formée : « {point.origin} », {count(point.size, 'feuille')}, racine {_short(point.root)}",
    )


def _check_size(bundle: dict, point: Checkpoint) -> tuple[int, str]:
    size = _get(bundle, "inclusion.size", int)
    if size != point.size:
        raise VerificationError(
            f"la preuve d'inclusion est calculée pour un arbre de {count(size, 'feuille')}, "
            f"le point de contrôle en compte {point.size}"
        )
    return size, f"{count(size, 'feuille')} dans la preuve d'inclusion et dans le point de contrôle"


def _check_inclusion(bundle: dict, leaf: _Leaf, point: Checkpoint) -> tuple[bool, str]:
    proof = _hash_list(bundle, "inclusion.proof")
    verify_inclusion(leaf.index, point.size, leaf_hash(leaf.data), proof, point.root)
    verb = "mènent" if len(proof) > 1 else "mène"
    hashes = count(len(proof), "empreinte")
    message = f"{hashes} {verb} de la feuille n°{leaf.index} à la racine {_short(point.root)}"
    return True, message


def _check_log_key(
    bundle: dict, report: Report, pinned: Ed25519PublicKey | None
) -> tuple[Ed25519PublicKey, str]:
    if pinned is not None:
        report.facts["log_key_sha256"] = _fingerprint(pinned)
        if _present(bundle, "log_public_key"):
            try:
                same = _raw_key(load_log_key(_get(bundle, "log_public_key", str))) == _raw_key(pinned)
            except VerificationError:
                same = False
            if not same:
                report.warnings.append("la clé du journal incluse dans le lot n'est pas la clé épinglée")
        return pinned, f"clé épinglée, empreinte SHA-256 {_fingerprint(pinned)}"
    key = load_log_key(_get(bundle, "log_public_key", str))
    report.facts["log_key_sha256"] = _fingerprint(key)
    report.warnings.append(
        f"la clé du journal provient du lot lui-même : comparez son empreinte SHA-256 ({_fingerprint(key)}) "
        f"avec celle de la clé publiée à {LOG_KEY_URL}, ou épinglez cette dernière (--log-key)"
    )
    return key, f"clé fournie par le lot, empreinte SHA-256 {_fingerprint(key)}"


def _check_note_signature(point: Checkpoint, key: Ed25519PublicKey) -> tuple[bool, str]:
    verify_checkpoint_signature(point, key)
    return True, f"note signée par « {point.origin} » avec la clé du journal (Ed25519)"


def _check_tsa_ca(
    bundle: dict, report: Report, pinned: list[x509.Certificate] | None
) -> tuple[list[x509.Certificate], str]:
    if pinned is not None:
        if not pinned:
            raise VerificationError("aucun certificat d'autorité d'horodatage épinglé")
        return pinned, "autorité épinglée : " + ", ".join(cert.subject.rfc4514_string() for cert in pinned)
    certs = load_certificates(_get(bundle, "tsa_ca", str))
    names = ", ".join(cert.subject.rfc4514_string() for cert in certs)
    report.warnings.append(
        f"l'autorité d'horodatage provient du lot lui-même ({names}) : comparez-la avec celle publiée à "
        f"{TSA_CA_URL}, ou épinglez cette dernière (--tsa-ca)"
    )
    return certs, f"autorité fournie par le lot : {names}"


def _check_checkpoint_token(point: Checkpoint, ca: list[x509.Certificate], report: Report) -> tuple[Any, str]:
    if point.tsr is None:
        raise VerificationError("point de contrôle sans jeton d'horodatage")
    info = verify_timestamp(
        point.tsr, hashed_message=hashlib.sha256(point.note.encode()).digest(), ca_certs=ca
    )
    report.facts.update(
        checkpoint_gen_time=info.gen_time, checkpoint_tsa=info.tsa_name, checkpoint_serial=info.serial_number
    )
    return info, f"{_describe_token(info)}, sur l'empreinte SHA-256 de la note signée"


def _bundle_token(bundle: dict) -> bytes:
    if not _present(bundle, "timestamp"):
        raise VerificationError(
            "la feuille désigne un jeton d'horodatage mais le lot n'en contient pas "
            "(champ « timestamp.tsr » absent)"
        )
    return _b64(_get(bundle, "timestamp.tsr", str), "le champ « timestamp.tsr »")


def _check_binding(bundle: dict, bound: _Bound) -> tuple[bytes, str]:
    expected = _hex(
        _get(bound.fields, "timestamp_sha256", str, owner=f" {bound.of}"),
        f"empreinte du jeton {bound.of}",
    )
    tsr = _bundle_token(bundle)
    computed = hashlib.sha256(tsr).digest()
    if computed != expected:
        raise VerificationError(
            f"SHA-256 du jeton fourni = {_short(computed)}, {bound.name} désigne le jeton "
            f"{_short(expected)} : ce n'est pas le jeton inscrit dans le journal"
        )
    return tsr, f"SHA-256 du jeton fourni = {computed.hex()}, celle inscrite dans {bound.name}"


def _check_leaf_token(
    bound: _Bound, tsr: bytes, ca: list[x509.Certificate], report: Report
) -> tuple[Any, str]:
    field_ = _get(bound.fields, "digest", str, owner=f" {bound.of}")
    digest = _hex(field_, f"empreinte « digest » {bound.of}", sizes=(32, 48, 64))
    info = verify_timestamp(tsr, hashed_message=digest, ca_certs=ca)
    report.facts.update(leaf_gen_time=info.gen_time, leaf_tsa=info.tsa_name, leaf_serial=info.serial_number)
    if info.accuracy:
        report.facts["leaf_accuracy"] = info.accuracy
    return info, f"{_describe_token(info)}, sur l'empreinte {_short(digest)} {bound.of}"


def _check_unbound_token(bundle: dict, ca: list[x509.Certificate], report: Report) -> tuple[Any, str]:
    # Any genuine token of the authority would verify here: it proves nothing about this leaf.
    raise VerificationError(
        "le lot contient un jeton d'horodatage, mais la feuille n'en désigne aucun (champs « digest » et "
        "« timestamp_sha256 » absents) : ce jeton ne prouve rien sur cette feuille"
    )


def _check_data(bound: _Bound, data: bytes, report: Report) -> tuple[bool, str]:
    expected = _hex(
        _get(bound.fields, "digest", str, owner=f" {bound.of}"), f"empreinte « digest » {bound.of}"
    )
    computed = hashlib.sha256(data).digest()
    report.facts["data_sha256"] = computed.hex()
    if computed != expected:
        raise VerificationError(
            f"SHA-256 du fichier = {_short(computed)}, {bound.name} porte l'empreinte {_short(expected)} : "
            "ce n'est pas le fichier déposé"
        )
    return True, f"SHA-256 du fichier = {computed.hex()}, celle inscrite dans {bound.name}"


@dataclass(frozen=True)
class _Bound:
    """Where the timestamp's imprint (`digest`) and the token's SHA-256 are read: the leaf
    itself, or, for a deposit leaf that publishes only a commitment, the commitment's opening."""

    fields: dict
    name: str  # « la feuille »
    of: str  # « de la feuille »


def _leaf_bound(leaf: _Leaf) -> _Bound:
    return _Bound(leaf.content, "la feuille", "de la feuille")


def _opening_bound(facts: dict) -> _Bound:
    return _Bound(facts, "l'ouverture de l'engagement", "de l'ouverture de l'engagement")


def verify_bundle(
    bundle: dict,
    *,
    log_key: Ed25519PublicKey | None = None,
    tsa_ca: list[x509.Certificate] | None = None,
    data: bytes | None = None,
) -> Report:
    """Check a receipt's proof bundle. Never raises on bad input: each problem is a failed check.

    `log_key` and `tsa_ca` are the keys the user pinned; without them the bundle's own are
    used, which proves only self-consistency, and the report warns about it."""
    report = Report()
    run = _Checks(report)
    run.run("Format", lambda: _check_format(bundle))
    run.run("Données de la feuille", lambda _: _check_leaf(bundle, report), "Format")
    run.run("Empreinte de la feuille", lambda leaf: _check_leaf_hash(bundle, leaf), "Données de la feuille")
    run.run("Rang de la feuille", lambda leaf: _check_index(bundle, leaf), "Données de la feuille")
    run.run("Point de contrôle", lambda _: _check_checkpoint(bundle, report), "Format")
    run.run("Taille de l'arbre", lambda point: _check_size(bundle, point), "Point de contrôle")
    run.run(
        "Preuve d'inclusion",
        lambda leaf, point: _check_inclusion(bundle, leaf, point),
        "Données de la feuille",
        "Point de contrôle",
    )
    run.run("Clé du journal", lambda _: _check_log_key(bundle, report, log_key), "Format")
    run.run("Signature du point de contrôle", _check_note_signature, "Point de contrôle", "Clé du journal")

    leaf: _Leaf | None = run.results.get("Données de la feuille")
    leaf_token = _present(bundle, "timestamp")
    # A deposit leaf publishes only a commitment: the digest and the token it binds are in
    # its opening, which the receipt's bundle carries.
    committed = leaf is not None and "commitment" in leaf.content
    bound = committed or (
        leaf is not None and ("digest" in leaf.content or "timestamp_sha256" in leaf.content)
    )
    bound_by, bound_as = "Données de la feuille", _leaf_bound
    if committed:
        run.run(
            "Ouverture de l'engagement",
            lambda leaf: _check_opening(bundle, leaf, report, data),
            "Données de la feuille",
        )
        bound_by, bound_as = "Ouverture de l'engagement", _opening_bound
    # Every checkpoint the platform publishes is timestamped: one without its token is a
    # weaker proof than what the receipt promised, so it fails rather than warns.
    run.run("Autorité d'horodatage", lambda _: _check_tsa_ca(bundle, report, tsa_ca), "Format")
    run.run(
        "Horodatage du point de contrôle",
        lambda point, ca: _check_checkpoint_token(point, ca, report),
        "Point de contrôle",
        "Autorité d'horodatage",
    )
    report.authenticated = log_key is not None and tsa_ca is not None
    if bound:
        run.run("Jeton lié à la feuille", lambda source: _check_binding(bundle, bound_as(source)), bound_by)
        run.run(
            "Horodatage de la feuille",
            lambda source, tsr, ca: _check_leaf_token(bound_as(source), tsr, ca, report),
            bound_by,
            "Jeton lié à la feuille",
            "Autorité d'horodatage",
        )
    elif leaf_token:
        run.run(
            "Horodatage de la feuille",
            lambda _, ca: _check_unbound_token(bundle, ca, report),
            "Données de la feuille",
            "Autorité d'horodatage",
        )
    if data is not None:
        run.run("Fichier fourni", lambda source: _check_data(bound_as(source), data, report), bound_by)
        if committed:
            run.run(
                "Faits du bordereau",
                lambda facts, _: _check_manifest_facts(facts, data),
                "Ouverture de l'engagement",
                "Fichier fourni",
            )
    return report


# --- Deposit commitments ---------------------------------------------------------------------
#
# A deposit leaf says nothing of the deposit before the opening: its type, the minute of
# reception, a commitment to the deposit's facts and a tag that only the consultation's key
# (published with the opening minutes) ties to its consultation. The receipt holds the
# opening of the commitment: the facts and the nonce. Byte formats (docs/verifier.md):
#
#   commitment = SHA-256("marches-ouverts/engagement-depot/1" ‖ 0x0A ‖ nonce ‖ JSON(facts))
#   tag        = HMAC-SHA-256(consultation key, "marches-ouverts/etiquette-depot/1" ‖ 0x0A ‖ commitment)
#
# nonce: 32 random bytes; JSON: UTF-8, keys sorted, no spaces (as the leaves).

DEPOSIT_COMMITMENT_FORMAT = "marches-ouverts/engagement-depot/1"
DEPOSIT_TAG_FORMAT = "marches-ouverts/etiquette-depot/1"
NONCE_BYTES = 32
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
_RECEIVED_AT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00")

# Each fact of a deposit: what it must be, and how it reads in French.
DEPOSIT_FACTS: dict[str, str] = {
    "consultation": "l'identifiant de la consultation, un entier positif",
    "deposit": "l'identifiant du pli, un UUID en minuscules",
    "company": "le SIRET ou le numéro d'identification de l'entreprise, une chaîne non vide",
    "lots": "les numéros des lots, une liste d'entiers positifs croissants",
    "received_at": "l'heure de réception en UTC à la milliseconde (AAAA-MM-JJTHH:MM:SS.mmm+00:00)",
    "late": "hors délai, un booléen",
    "digest": "le SHA-256 du bordereau, 64 chiffres hexadécimaux en minuscules",
    "timestamp_sha256": "le SHA-256 du jeton d'horodatage, 64 chiffres hexadécimaux en minuscules",
}


def canonical_json(data: Any) -> bytes:
    """The canonical JSON of the leaves and the commitments: UTF-8, keys sorted, no spaces."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _fact_ok(name: str, value: Any) -> bool:
    if name == "consultation":
        return isinstance(value, int) and not isinstance(value, bool) and value >= 1
    if name == "deposit":
        return isinstance(value, str) and _UUID.fullmatch(value) is not None
    if name == "company":
        return isinstance(value, str) and value.strip() != ""
    if name == "lots":
        return (
            isinstance(value, list)
            and all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in value)
            and value == sorted(set(value))
        )
    if name == "received_at":
        return isinstance(value, str) and _RECEIVED_AT.fullmatch(value) is not None
    if name == "late":
        return isinstance(value, bool)
    return isinstance(value, str) and _SHA256_HEX.fullmatch(value) is not None


def check_deposit_facts(facts: Any, path: str = "facts") -> dict:
    """The facts of a deposit, each of the expected kind, or a VerificationError naming the
    first wrong one: the commitment hashes their exact text, so there is one spelling only."""
    if not isinstance(facts, dict):
        raise VerificationError(f"champ « {path} » : un objet est attendu")
    unknown = sorted(set(facts) - set(DEPOSIT_FACTS))
    if unknown:
        raise VerificationError(f"fait « {unknown[0]} » inconnu dans « {path} »")
    for name, meaning in DEPOSIT_FACTS.items():
        if name not in facts:
            raise VerificationError(f"fait « {name} » absent de « {path} » ({meaning})")
        if not _fact_ok(name, facts[name]):
            raise VerificationError(f"fait « {name} » mal formé : {meaning} est attendu, pas {facts[name]!r}")
    return facts


def deposit_commitment(facts: dict, nonce: bytes) -> bytes:
    """SHA-256 over the domain, the nonce and the canonical JSON of the facts."""
    check_deposit_facts(facts)
    if len(nonce) != NONCE_BYTES:
        raise VerificationError(f"l'aléa fait {len(nonce)} octets, {NONCE_BYTES} attendus")
    return hashlib.sha256(DEPOSIT_COMMITMENT_FORMAT.encode() + b"\n" + nonce + canonical_json(facts)).digest()


def deposit_tag(key: bytes, commitment: bytes) -> bytes:
    """What ties a leaf to its consultation once the consultation's key is published."""
    return hmac.new(key, DEPOSIT_TAG_FORMAT.encode() + b"\n" + commitment, hashlib.sha256).digest()


def deposit_leaf_time(received_at: str) -> str:
    """The time a deposit leaf shows: the minute of reception, in UTC (« 2026-12-04T17:59Z »)."""
    return received_at[:16] + "Z"


def deposit_leaf(facts: dict, nonce: bytes, tag_key: bytes) -> dict:
    """The content of a deposit leaf, without its type."""
    commitment = deposit_commitment(facts, nonce)
    return {
        "format": DEPOSIT_COMMITMENT_FORMAT,
        "commitment": commitment.hex(),
        "tag": deposit_tag(tag_key, commitment).hex(),
        "time": deposit_leaf_time(facts["received_at"]),
    }


def deposit_opening(facts: dict, nonce: bytes) -> dict:
    """The opening of a deposit leaf's commitment, as the receipt carries it."""
    check_deposit_facts(facts)
    return {"format": DEPOSIT_COMMITMENT_FORMAT, "facts": facts, "nonce": nonce.hex()}


def parse_deposit_opening(opening: Any, path: str = "commitment_opening") -> tuple[dict, bytes]:
    """(facts, nonce) of an opening, or a VerificationError naming the wrong field."""
    if not isinstance(opening, dict):
        raise VerificationError(f"champ « {path} » : un objet est attendu")
    value = _get(opening, "format", str, prefix=path)
    if value != DEPOSIT_COMMITMENT_FORMAT:
        raise VerificationError(
            f"ouverture au format « {value} » inconnu : ce vérificateur lit « {DEPOSIT_COMMITMENT_FORMAT} »"
        )
    nonce = _hex(_get(opening, "nonce", str, prefix=path), f"l'aléa « {path}.nonce »", sizes=(NONCE_BYTES,))
    facts = check_deposit_facts(_get(opening, "facts", dict, prefix=path), f"{path}.facts")
    return facts, nonce


# Where each fact stands in a manifest (bordereau, « marches-ouverts/bordereau/1 »), to name the
# wrong one when an opening does not match its commitment.
_MANIFEST_FACTS = {
    "consultation": ("consultation", "id"),
    "deposit": ("deposit",),
    "company": ("company", "identifier"),
    "lots": ("lots",),
    "received_at": ("received_at",),
    "late": ("late",),
}


def _manifest_disagreements(facts: dict, data: bytes) -> list[str]:
    """The facts that the manifest `data` contradicts (none if it is not a manifest)."""
    wrong = []
    if hashlib.sha256(data).hexdigest() != facts["digest"]:
        wrong.append("digest")
    try:
        manifest = json.loads(data)
    except (ValueError, RecursionError):
        return wrong
    if not isinstance(manifest, dict):
        return wrong
    for name, path in _MANIFEST_FACTS.items():
        value: Any = manifest
        for part in path:
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None and value != facts[name]:
            wrong.append(name)
    return wrong


def _check_manifest_facts(facts: dict, data: bytes) -> tuple[bool, str]:
    """The facts committed are those of the manifest the token covers: the platform cannot
    have committed, say, « dans le délai » for a deposit its manifest dates after the deadline."""
    wrong = _manifest_disagreements(facts, data)
    if wrong:
        names = ", ".join(f"« {name} »" for name in wrong)
        raise VerificationError(f"l'ouverture et le bordereau fourni diffèrent sur : {names}")
    return (
        True,
        "l'ouverture reprend les faits du bordereau (consultation, pli, entreprise, lots, réception, délai)",
    )


def _check_opening(bundle: dict, leaf: _Leaf, report: Report, data: bytes | None) -> tuple[dict, str]:
    """The commitment of a deposit leaf opens with the facts and nonce of the receipt."""
    value = _get(leaf.content, "format", str, owner=" de la feuille")
    if value != DEPOSIT_COMMITMENT_FORMAT:
        raise VerificationError(
            f"engagement au format « {value} » inconnu : ce vérificateur lit « {DEPOSIT_COMMITMENT_FORMAT} »"
        )
    expected = _hex(
        _get(leaf.content, "commitment", str, owner=" de la feuille"), "l'engagement de la feuille"
    )
    if not _present(bundle, "commitment_opening"):
        raise VerificationError(
            "la feuille ne publie qu'un engagement et le lot n'en contient pas l'ouverture (champ "
            "« commitment_opening » absent) : prenez le paquet de preuve joint à l'accusé de réception"
        )
    facts, nonce = parse_deposit_opening(bundle["commitment_opening"])
    report.facts.update(
        deposit=facts["deposit"],
        consultation=facts["consultation"],
        company=facts["company"],
        received_at=facts["received_at"],
        late="oui" if facts["late"] else "non",
    )
    computed = deposit_commitment(facts, nonce)
    if computed != expected:
        wrong = []
        if _present(bundle, "timestamp.tsr"):
            tsr = _b64(_get(bundle, "timestamp.tsr", str), "le champ « timestamp.tsr »")
            if hashlib.sha256(tsr).hexdigest() != facts["timestamp_sha256"]:
                wrong.append("timestamp_sha256")
        if data is not None:
            wrong += _manifest_disagreements(facts, data)
        if wrong:
            source = "le bordereau fourni ou le jeton du lot" if data is not None else "le jeton du lot"
            names = ", ".join(f"« {name} »" for name in wrong)
            culprit = f"fait faux dans l'ouverture, d'après {source} : {names}"
        elif data is not None:
            culprit = "les faits concordent avec le bordereau et le jeton : c'est l'aléa qui diffère"
        else:
            culprit = (
                "un fait ou l'aléa diffère de ce qui a été engagé (joignez le bordereau pour savoir lequel)"
            )
        raise VerificationError(
            f"l'ouverture donne l'engagement {_short(computed)}, la feuille publie {_short(expected)} : "
            + culprit
        )
    time = _get(leaf.content, "time", str, owner=" de la feuille")
    if time != deposit_leaf_time(facts["received_at"]):
        raise VerificationError(
            f"fait « received_at » : la réception ({facts['received_at']}) n'est pas dans la minute que "
            f"publie la feuille ({time})"
        )
    return facts, f"les faits et l'aléa de l'accusé de réception redonnent l'engagement {computed.hex()}"


FACT_LABELS.update(
    deposit="Identifiant du pli",
    consultation="Consultation (identifiant)",
    company="Entreprise (SIRET ou identifiant)",
    received_at="Date et heure de réception (UTC)",
    late="Hors délai",
    deposits_listed="Plis listés",
    deposits_logged="Plis inscrits au journal pour cette consultation",
)


def _leaf_contents(leaves: Any) -> dict[int, dict]:
    """Index → content of leaves as /preuves/log/leaves gives them (`index` and `data`)."""
    if not isinstance(leaves, list):
        raise VerificationError("les feuilles doivent être une liste")
    contents: dict[int, dict] = {}
    for position, item in enumerate(leaves):
        path = f"leaves[{position}]"
        index = _get(item, "index", int, prefix=path)
        data = _b64(_get(item, "data", str, prefix=path), f"le champ « {path}.data »")
        if index in contents:
            raise VerificationError(f"la feuille n°{index} est donnée deux fois")
        try:
            content = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise VerificationError(
                f"les données de la feuille n°{index} ne sont pas un JSON lisible"
            ) from None
        if "leaf_hash" in item and _hex(_get(item, "leaf_hash", str, prefix=path), path) != leaf_hash(data):
            raise VerificationError(f"la feuille n°{index} n'a pas l'empreinte annoncée")
        contents[index] = content if isinstance(content, dict) else {}
    return contents


def verify_deposit_set(
    *,
    consultation: int,
    tag_key: bytes,
    listed: Any,
    leaves: Any,
    checkpoint: dict | None = None,
    log_key: Ed25519PublicKey | None = None,
) -> Report:
    """After the opening: check that the deposits the opening minutes list for `consultation`
    — each as {"log_index": N, "opening": {…}} — are exactly those the log holds for it.

    `tag_key` is the consultation's key, published with the minutes; `leaves` are the log's
    leaves as /preuves/log/leaves gives them. Every listed opening must open the commitment
    at its index, with the consultation's id, and every leaf whose tag the key gives must be
    listed: a deposit the platform kept out of the minutes is found. With `checkpoint` and
    `log_key`, the leaves must be the whole tree that checkpoint signs, so that none was
    held back. Never raises on bad input."""
    report = Report()
    run = _Checks(report)
    needs: tuple[str, ...] = ()
    if checkpoint is not None or log_key is not None:
        run.run("Arbre complet", lambda: _whole_tree(leaves, checkpoint, log_key, report))
        needs = ("Arbre complet",)
    run.run("Feuilles du journal", lambda *_: _logged(consultation, tag_key, leaves, report), *needs)
    run.run(
        "Plis listés", lambda logged: _listed(consultation, listed, logged, report), "Feuilles du journal"
    )
    run.run(
        "Même ensemble", lambda logged, found: _same_set(logged, found), "Feuilles du journal", "Plis listés"
    )
    return report


def _tree_root(hashes: Sequence[bytes]) -> bytes:
    """MTH of RFC 9162 §2.1.1 over leaf hashes."""
    if not hashes:
        return EMPTY_ROOT
    if len(hashes) == 1:
        return hashes[0]
    split = 1
    while split * 2 < len(hashes):
        split *= 2
    return node_hash(_tree_root(hashes[:split]), _tree_root(hashes[split:]))


def _whole_tree(
    leaves: Any, checkpoint: dict | None, log_key: Ed25519PublicKey | None, report: Report
) -> tuple[bool, str]:
    if checkpoint is None or log_key is None:
        raise VerificationError("le point de contrôle et la clé du journal vont ensemble")
    point = verify_checkpoint(checkpoint, log_key)
    contents = _leaf_contents(leaves)
    if sorted(contents) != list(range(point.size)):
        raise VerificationError(
            f"le point de contrôle signe un arbre de {count(point.size, 'feuille')} : il faut les feuilles "
            f"0 à {point.size - 1}, toutes, et elles seules ({count(len(contents), 'feuille')} données)"
        )
    datas = {_get(item, "index", int): _b64(_get(item, "data", str), "données") for item in leaves}
    root = _tree_root([leaf_hash(datas[index]) for index in range(point.size)])
    if root != point.root:
        raise VerificationError(
            f"les feuilles données mènent à la racine {_short(root)}, le point de contrôle signe "
            f"{_short(point.root)}"
        )
    report.facts.update(tree_size=point.size, root_hash=point.root.hex())
    return True, f"les {count(point.size, 'feuille')} mènent à la racine signée {_short(point.root)}"


def _logged(consultation: int, tag_key: bytes, leaves: Any, report: Report) -> tuple[dict[int, dict], str]:
    contents = _leaf_contents(leaves)
    deposits = {i: c for i, c in contents.items() if c.get("type") == "deposit"}
    logged = {}
    for index, content in deposits.items():
        try:
            commitment = _hex(str(content.get("commitment")), "engagement")
            tag = _hex(str(content.get("tag")), "étiquette")
        except VerificationError:
            raise VerificationError(
                f"la feuille de pli n°{index} n'a pas d'engagement ni d'étiquette lisibles"
            ) from None
        if hmac.compare_digest(deposit_tag(tag_key, commitment), tag):
            logged[index] = content
    report.facts["deposits_logged"] = len(logged)
    return logged, (
        f"{count(len(contents), 'feuille')} lues, dont {count(len(deposits), 'feuille')} de pli ; "
        f"la clé de la consultation n°{consultation} en désigne {len(logged)}"
    )


def _listed(consultation: int, listed: Any, logged: dict[int, dict], report: Report) -> tuple[set[int], str]:
    if not isinstance(listed, list):
        raise VerificationError("les plis listés doivent être une liste")
    found: set[int] = set()
    seen_deposits: set[str] = set()
    for position, item in enumerate(listed):
        path = f"plis[{position}]"
        index = _get(item, "log_index", int, prefix=path)
        facts, nonce = parse_deposit_opening(_get(item, "opening", dict, prefix=path), f"{path}.opening")
        if index in found:
            raise VerificationError(f"la feuille n°{index} est listée deux fois")
        if facts["deposit"] in seen_deposits:
            raise VerificationError(f"le pli {facts['deposit']} est listé deux fois")
        if facts["consultation"] != consultation:
            raise VerificationError(
                f"le pli {facts['deposit']} (feuille n°{index}) a été déposé pour la consultation "
                f"n°{facts['consultation']}, pas la n°{consultation}"
            )
        content = logged.get(index)
        if content is None:
            raise VerificationError(
                f"le pli {facts['deposit']} est listé à la feuille n°{index}, qui n'est pas une feuille "
                "de pli de cette consultation"
            )
        if content.get("commitment") != deposit_commitment(facts, nonce).hex():
            raise VerificationError(
                f"l'ouverture du pli {facts['deposit']} ne redonne pas l'engagement de la feuille n°{index}"
            )
        if content.get("time") != deposit_leaf_time(facts["received_at"]):
            raise VerificationError(
                f"le pli {facts['deposit']} : la réception ({facts['received_at']}) n'est pas dans la minute "
                f"de la feuille n°{index} ({content.get('time')})"
            )
        found.add(index)
        seen_deposits.add(facts["deposit"])
    report.facts["deposits_listed"] = len(found)
    return found, f"{count(len(found), 'pli')} listés, chacun ouvre l'engagement de sa feuille"


def _same_set(logged: dict[int, dict], found: set[int]) -> tuple[bool, str]:
    missing = sorted(set(logged) - found)
    if missing:
        ranks = ", ".join(f"n°{index}" for index in missing)
        raise VerificationError(
            f"{count(len(missing), 'feuille')} de pli de cette consultation "
            f"{'manque' if len(missing) == 1 else 'manquent'} à la liste : {ranks}"
        )
    return True, f"les {count(len(found), 'pli')} listés sont exactement ceux du journal"


def verify_consistency_files(
    old: dict, new: dict, proof: dict, *, log_key: Ed25519PublicKey | None = None
) -> Report:
    """Check that the log at checkpoint `new` extends the log at checkpoint `old`: what a
    monitor runs to catch a log that rewrote its history. Never raises on bad input."""
    report = Report()
    run = _Checks(report)

    def parse(point: Any, label: str) -> tuple[Checkpoint, str]:
        parsed = _parse_checkpoint(point, "")
        return (
            parsed,
            f"{label} : « {parsed.origin} », {count(parsed.size, 'feuille')}, racine {_short(parsed.root)}",
        )

    def check_key() -> tuple[Ed25519PublicKey, str]:
        if log_key is None:
            raise VerificationError(
                f"aucune clé du journal fournie : téléchargez-la à {LOG_KEY_URL} (--log-key)"
            )
        report.facts["log_key_sha256"] = _fingerprint(log_key)
        return log_key, f"clé épinglée, empreinte SHA-256 {_fingerprint(log_key)}"

    def check_origin(old_point: Checkpoint, new_point: Checkpoint) -> tuple[bool, str]:
        if old_point.origin != new_point.origin:
            raise VerificationError(
                f"deux journaux différents : « {old_point.origin} » et « {new_point.origin} »"
            )
        report.facts["origin"] = old_point.origin
        return True, f"« {old_point.origin} »"

    def check_sizes(old_point: Checkpoint, new_point: Checkpoint) -> tuple[bool, str]:
        if not isinstance(proof, dict):
            raise VerificationError("la preuve de cohérence n'est pas un objet JSON")
        first, second = _get(proof, "first", int), _get(proof, "second", int)
        if first != old_point.size:
            raise VerificationError(
                f"la preuve part de {count(first, 'feuille')}, "
                f"l'ancien point de contrôle en a {old_point.size}"
            )
        if second != new_point.size:
            raise VerificationError(
                f"la preuve mène à {count(second, 'feuille')}, "
                f"le nouveau point de contrôle en a {new_point.size}"
            )
        report.facts.update(
            old_size=first, old_root=old_point.root.hex(), new_size=second, new_root=new_point.root.hex()
        )
        return True, f"de {first} à {count(second, 'feuille')}"

    def check_consistency(old_point: Checkpoint, new_point: Checkpoint, _: bool) -> tuple[bool, str]:
        path = _hash_list(proof, "proof")
        verify_consistency(old_point.size, new_point.size, old_point.root, new_point.root, path)
        message = f"l'arbre de {count(new_point.size, 'feuille')} prolonge celui de {old_point.size}"
        return True, f"{message} ({count(len(path), 'empreinte')})"

    old_name, new_name = "Ancien point de contrôle", "Nouveau point de contrôle"
    run.run(old_name, lambda: parse(old, "ancien"))
    run.run(new_name, lambda: parse(new, "nouveau"))
    run.run("Clé du journal", check_key)
    run.run("Signature de l'ancien point de contrôle", _check_note_signature, old_name, "Clé du journal")
    run.run("Signature du nouveau point de contrôle", _check_note_signature, new_name, "Clé du journal")
    run.run("Même journal", check_origin, old_name, new_name)
    run.run("Tailles", check_sizes, old_name, new_name)
    run.run("Preuve de cohérence", check_consistency, old_name, new_name, "Tailles")
    return report


def verify_against_log(
    bundle: dict,
    current: dict | None,
    proof: dict | None,
    *,
    log_key: Ed25519PublicKey | None = None,
    tsa_ca: list[x509.Certificate] | None = None,
    data: bytes | None = None,
    witnesses: Sequence[Witness] = (),
    required: int = 0,
) -> Report:
    """A receipt's bundle, then the log as it is today: its latest checkpoint `current`
    must extend the receipt's (consistency `proof` from the receipt's size), or the fork is
    named; with `witnesses`, at least `required` of them must have cosigned the checkpoint
    relied on (today's, or the receipt's own when `current` is None). Never raises."""
    report = verify_bundle(bundle, log_key=log_key, tsa_ca=tsa_ca, data=data)
    run = _Checks(report)

    def receipt_point() -> tuple[Checkpoint, str]:
        point = _parse_checkpoint(
            bundle.get("checkpoint") if isinstance(bundle, dict) else None, "checkpoint"
        )
        return point, f"taille {point.size}, racine {_short(point.root)}"

    def key() -> tuple[Ed25519PublicKey, str]:
        if log_key is not None:
            return log_key, "clé épinglée"
        return load_log_key(_get(bundle, "log_public_key", str)), "clé fournie par le lot"

    run.run("Point de contrôle du reçu", receipt_point)
    run.run("Clé du journal actuel", key)
    relied_on = "Point de contrôle du reçu"
    if current is not None:

        def current_point() -> tuple[Checkpoint, str]:
            point = _parse_checkpoint(current, "")
            report.facts.update(current_size=point.size, current_root=point.root.hex())
            return point, f"« {point.origin} », {count(point.size, 'feuille')}, racine {_short(point.root)}"

        def extends(old: Checkpoint, new: Checkpoint, _key: Any) -> tuple[bool, str]:
            fork = (
                f"fourche : le journal actuel ({count(new.size, 'feuille')}, racine {new.root.hex()}) ne "
                f"prolonge pas le point de contrôle du reçu ({count(old.size, 'feuille')}, racine "
                f"{old.root.hex()}) : la plateforme a réécrit son historique ou en montre un autre"
            )
            if old.origin != new.origin:
                raise VerificationError(f"deux journaux différents : « {old.origin} » et « {new.origin} »")
            if new.size < old.size:
                raise VerificationError(f"{fork} (journal tronqué)")
            if new.size == old.size:
                if new.root != old.root:
                    raise VerificationError(fork)
                return True, "le journal actuel est celui du reçu"
            if not isinstance(proof, dict):
                raise VerificationError("preuve de cohérence absente ou illisible")
            if (_get(proof, "first", int), _get(proof, "second", int)) != (old.size, new.size):
                raise VerificationError(
                    f"la preuve de cohérence ne va pas de {old.size} à {new.size} feuilles"
                )
            try:
                verify_consistency(old.size, new.size, old.root, new.root, _hash_list(proof, "proof"))
            except VerificationError as exc:
                raise VerificationError(f"{fork} ({exc})") from None
            return True, f"l'arbre actuel de {count(new.size, 'feuille')} prolonge celui du reçu ({old.size})"

        run.run("Point de contrôle actuel", current_point)
        run.run(
            "Signature du point de contrôle actuel",
            _check_note_signature,
            "Point de contrôle actuel",
            "Clé du journal actuel",
        )
        run.run(
            "Cohérence avec le journal actuel",
            extends,
            "Point de contrôle du reçu",
            "Point de contrôle actuel",
            "Signature du point de contrôle actuel",
        )
        relied_on = "Point de contrôle actuel"
    if witnesses:

        def cosigned(point: Checkpoint) -> tuple[bool, str]:
            names = verify_cosignatures(point, witnesses, max(required, 1))
            return True, "contresigné par " + ", ".join(f"« {name} »" for name in names)

        run.run("Contresignatures des témoins", cosigned, relied_on)
    return report


# --- Command line ----------------------------------------------------------------------------


class _UsageError(Exception):
    """A usage error: exit status 2."""


class _Parser(argparse.ArgumentParser):
    _TRANSLATIONS = (
        ("unrecognized arguments", "arguments inconnus"),
        ("expected one argument", "une valeur est attendue"),
        ("ambiguous option", "option ambiguë"),
    )

    def error(self, message: str) -> NoReturn:
        for english, french in self._TRANSLATIONS:
            message = message.replace(english, french)
        raise _UsageError(message)


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def add_usage(self, usage: Any, actions: Any, groups: Any, prefix: str | None = None) -> None:
        super().add_usage(usage, actions, groups, prefix or "utilisation : ")


def _parser() -> _Parser:
    parser = _Parser(
        prog="verifier.py",
        add_help=False,
        formatter_class=_Formatter,
        description=(
            "Vérifie hors ligne une preuve de marches-ouverts : inclusion de la feuille dans le\n"
            "journal de transparence (RFC 9162), signature du point de contrôle (Ed25519),\n"
            "jetons d'horodatage (RFC 3161)."
        ),
        epilog=(
            "exemples :\n"
            "  python verifier.py preuve.json --log-key key.pem --tsa-ca ca.pem --data offre.zip\n"
            "  python verifier.py --consistency ancien.json nouveau.json coherence.json --log-key key.pem\n\n"
            f"Clé du journal : {LOG_KEY_URL} ; autorité d'horodatage : {TSA_CA_URL}.\n"
            "Code de sortie : 0 preuve valide, 1 preuve invalide, 2 erreur d'utilisation\n"
            "ou fichier illisible, 3 preuve cohérente mais non authentifiée (clés prises dans le lot)."
        ),
    )
    group = parser.add_argument_group("arguments")
    group.add_argument(
        "files",
        nargs="*",
        metavar="FICHIER",
        help="PREUVE.json, ou avec --consistency : ANCIEN.json NOUVEAU.json PREUVE.json",
    )
    options = parser.add_argument_group("options")
    options.add_argument("-h", "--help", action="help", help="afficher cette aide et quitter")
    options.add_argument(
        "--consistency", action="store_true", help="vérifier qu'un point de contrôle prolonge un plus ancien"
    )
    options.add_argument(
        "--log-key", metavar="CLE.pem", help=f"clé publique du journal à épingler ({LOG_KEY_URL})"
    )
    options.add_argument(
        "--tsa-ca", metavar="AC.pem", help=f"certificats de l'autorité d'horodatage à épingler ({TSA_CA_URL})"
    )
    options.add_argument(
        "--data", metavar="FICHIER", help="fichier déposé, dont l'empreinte doit être celle de la feuille"
    )
    options.add_argument(
        "--log",
        metavar="URL",
        help="adresse de la plateforme : vérifier aussi que son journal actuel prolonge celui du reçu",
    )
    options.add_argument(
        "--current",
        nargs=2,
        metavar=("ACTUEL.json", "COHERENCE.json"),
        help="hors ligne, comme --log : le point de contrôle actuel et la preuve de cohérence depuis le reçu",
    )
    options.add_argument(
        "--witness",
        action="append",
        default=[],
        metavar="VKEY",
        help="clé d'un témoin (vkey C2SP NOM+ID+CLÉ) dont la contresignature est exigée ; répétable",
    )
    options.add_argument(
        "--witnesses", type=int, metavar="N", help="nombre de contresignatures exigées (défaut : 1)"
    )
    return parser


MAX_FETCHED_BYTES = 16 * 1024 * 1024


def _fetch_json(url: str) -> dict:
    """A JSON object from the platform, or a usage error in French: whatever the server
    answers (not HTTP, cut short, too large, not JSON, too deeply nested) never crashes."""
    import http.client
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (the user's URL)
            body = response.read(MAX_FETCHED_BYTES + 1)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise _UsageError(f"{url} : HTTP {exc.code}") from None
    except (urllib.error.URLError, TimeoutError, OSError, ValueError, http.client.HTTPException) as exc:
        # HTTPException: an answer that is not HTTP (BadStatusLine) or cut short (IncompleteRead).
        reason = getattr(exc, "reason", None) or type(exc).__name__
        raise _UsageError(f"{url} illisible ou injoignable : {reason}") from None
    if len(body) > MAX_FETCHED_BYTES:
        raise _UsageError(f"{url} : réponse de plus de {MAX_FETCHED_BYTES} octets")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        raise _UsageError(f"{url} : la réponse n'est pas du JSON lisible") from None
    if not isinstance(data, dict):
        raise _UsageError(f"{url} : la réponse n'est pas un objet JSON")
    return data


def _current_from_log(base: str, bundle: Any) -> tuple[Any, Any]:
    base = base.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise _UsageError(f"--log attend une adresse http(s)://, pas « {base} »")
    current = _fetch_json(f"{base}/preuves/log/checkpoint")
    receipt = bundle.get("checkpoint") if isinstance(bundle, dict) else None
    old = receipt.get("size") if isinstance(receipt, dict) else None
    new = current.get("size")
    proof = None
    if isinstance(old, int) and isinstance(new, int) and 0 < old < new:
        proof = _fetch_json(f"{base}/preuves/log/consistency?first={old}&second={new}")
    return current, proof


def _read_file(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise _UsageError(f"fichier « {path} » introuvable") from None
    except IsADirectoryError:
        raise _UsageError(f"« {path} » est un dossier, pas un fichier") from None
    except PermissionError:
        raise _UsageError(f"lecture de « {path} » refusée") from None
    except OSError as exc:
        raise _UsageError(f"impossible de lire « {path} » : {exc.strerror}") from None


def _read_json(path: str) -> Any:
    try:
        return json.loads(_read_file(path))
    except json.JSONDecodeError as exc:
        raise _UsageError(
            f"« {path} » n'est pas du JSON valide (ligne {exc.lineno}, colonne {exc.colno})"
        ) from None
    except UnicodeDecodeError:
        raise _UsageError(f"« {path} » n'est pas un texte UTF-8") from None
    except (ValueError, RecursionError):
        raise _UsageError(
            f"« {path} » n'est pas un JSON lisible (nombre trop long ou imbrication trop profonde)"
        ) from None


def format_fact(value: Any) -> str:
    """A fact as a person reads it; a time in UTC and in Paris time, where procurement deadlines are."""
    if isinstance(value, dt.datetime):
        utc = value.astimezone(dt.UTC)
        text = f"{utc:%Y-%m-%d %H:%M:%S}.{utc.microsecond // 1000:03d} UTC"
        try:
            paris = utc.astimezone(ZoneInfo("Europe/Paris"))
        except ZoneInfoNotFoundError:  # no time-zone database on this system
            return text
        return f"{text}, soit le {paris:%d/%m/%Y à %H:%M:%S} heure de Paris"
    return str(value)


def _print_report(report: Report) -> None:
    for check in report.checks:
        status = "OK" if check.ok else "ÉCHEC"
        print(f"{status:<6} {check.name} : {check.message}")  # noqa: T201
    for warning in report.warnings:
        print(f"ATTENTION : {warning}")  # noqa: T201
    for key, value in report.facts.items():
        print(f"{FACT_LABELS.get(key, key)} : {format_fact(value)}")  # noqa: T201
    failure = report.first_failure
    if failure is None and report.ok and not report.authenticated:
        print(  # noqa: T201
            "Preuve cohérente mais non authentifiée : les clés viennent du lot lui-même. Épinglez celles "
            f"que publie la plateforme (--log-key, --tsa-ca : {LOG_KEY_URL}, {TSA_CA_URL})."
        )
    elif failure is None and report.ok:
        print("Preuve valide.")  # noqa: T201
    else:
        reason = f"{failure.name} : {failure.message}" if failure else "aucune vérification effectuée"
        print(f"Preuve invalide : {reason}")  # noqa: T201


def _run(args: argparse.Namespace) -> Report:
    log_key = None
    if args.log_key:
        try:
            log_key = load_log_key(_read_file(args.log_key))
        except VerificationError as exc:
            raise _UsageError(f"« {args.log_key} » : {exc}") from None
    if args.consistency:
        if len(args.files) != 3:
            raise _UsageError("--consistency attend trois fichiers : ANCIEN.json NOUVEAU.json PREUVE.json")
        if log_key is None:
            raise _UsageError(
                f"--consistency demande la clé du journal : --log-key CLE.pem (publiée à {LOG_KEY_URL})"
            )
        if args.tsa_ca or args.data:
            raise _UsageError("--tsa-ca et --data ne s'emploient pas avec --consistency")
        old, new, proof = (_read_json(path) for path in args.files)
        return verify_consistency_files(old, new, proof, log_key=log_key)
    if len(args.files) != 1:
        raise _UsageError(f"un seul fichier de preuve est attendu ({len(args.files)} donnés)")
    tsa_ca = None
    if args.tsa_ca:
        try:
            tsa_ca = load_certificates(_read_file(args.tsa_ca))
        except VerificationError as exc:
            raise _UsageError(f"« {args.tsa_ca} » : {exc}") from None
    data = _read_file(args.data) if args.data else None
    bundle = _read_json(args.files[0])
    witnesses = []
    for vkey in args.witness:
        try:
            witnesses.append(parse_witness_key(vkey))
        except VerificationError as exc:
            raise _UsageError(str(exc)) from None
    if args.witnesses is not None and args.witnesses < 1:
        raise _UsageError(f"--witnesses {args.witnesses} : au moins 1 contresignature exigée")
    if args.witnesses is not None and args.witnesses > len(witnesses):
        raise _UsageError(
            f"--witnesses {args.witnesses} : seulement {len(witnesses)} témoin(s) donné(s) (--witness)"
        )
    if args.log and args.current:
        raise _UsageError("--log et --current ne s'emploient pas ensemble")
    if not (args.log or args.current or witnesses):
        return verify_bundle(bundle, log_key=log_key, tsa_ca=tsa_ca, data=data)
    current, proof = None, None
    if args.log:
        current, proof = _current_from_log(args.log, bundle)
    elif args.current:
        current, proof = (_read_json(path) for path in args.current)
    return verify_against_log(
        bundle,
        current,
        proof,
        log_key=log_key,
        tsa_ca=tsa_ca,
        data=data,
        witnesses=witnesses,
        required=args.witnesses or 1,
    )


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    try:
        report = _run(parser.parse_args(argv))
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    except _UsageError as exc:
        parser.print_usage(sys.stderr)
        sys.stderr.write(f"{parser.prog} : erreur : {exc}\n")
        return 2
    _print_report(report)
    if not report.ok:
        return 1
    if not report.authenticated:
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
