"""Files that no key can ever open are refused: an X25519 stanza whose ephemeral share is a
low-order point of Curve25519 (the all-zero point among them) gives an all-zero shared secret
with every key, which `age` refuses; the server refuses the file at its first chunk."""

import base64
import os
import re
import shutil
import subprocess

import pyrage
import pytest

from offres.age_format import AgeFormatError, is_low_order, parse_header
from offres.models import DepositChunk, DepositFile

from .test_deposit_api import put_chunk

AGE = shutil.which("age")
pytestmark = pytest.mark.skipif(AGE is None, reason="needs Debian's package age")

P = 2**255 - 19
# The small-order points of Curve25519 as libsodium's blocklist lists them
# (crypto_scalarmult/curve25519/ref10/x25519_ref10.c, has_small_order): 0, 1, the two points
# of order 8, p−1, p and p+1 (little-endian u-coordinates).
CANONICAL = {
    "0": bytes(32),
    "1": (1).to_bytes(32, "little"),
    "ordre 8 (a)": bytes.fromhex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
    "ordre 8 (b)": bytes.fromhex("5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157"),
    "p-1": (P - 1).to_bytes(32, "little"),
    "p": P.to_bytes(32, "little"),
    "p+1": (P + 1).to_bytes(32, "little"),
}
# X25519 ignores the top bit of the u-coordinate: the same points with it set.
HIGH_BIT = {
    f"{name}, bit 255 mis": share[:31] + bytes([share[31] | 0x80]) for name, share in CANONICAL.items()
}
LOW_ORDER = {**CANONICAL, **HIGH_BIT}


def x25519(scalar: int, u: bytes) -> int:
    """RFC 7748's Montgomery ladder, written out so that the list above is checked by
    something else than the library the server uses."""
    x1 = int.from_bytes(u, "little") & ((1 << 255) - 1)
    x2, z2, x3, z3, swap = 1, 0, x1, 1, 0
    for t in reversed(range(255)):
        bit = (scalar >> t) & 1
        swap ^= bit
        if swap:
            x2, x3, z2, z3 = x3, x2, z3, z2
        swap = bit
        a, b = (x2 + z2) % P, (x2 - z2) % P
        aa, bb = a * a % P, b * b % P
        e = (aa - bb) % P
        c, d = (x3 + z3) % P, (x3 - z3) % P
        da, cb = d * a % P, c * b % P
        x3, z3 = (da + cb) ** 2 % P, x1 * (da - cb) ** 2 % P
        x2, z2 = aa * bb % P, e * (aa + 121665 * e) % P
    if swap:
        x2, z2 = x3, z3
    return x2 * pow(z2, P - 2, P) % P


def clamped(seed: bytes) -> int:
    k = bytearray(seed)
    k[0] &= 248
    k[31] &= 127
    k[31] |= 64
    return int.from_bytes(k, "little")


@pytest.mark.parametrize("name", sorted(LOW_ORDER))
def test_the_list_is_the_low_order_points(name):
    """A point is low-order iff a clamped scalar (a multiple of the cofactor 8) sends it to 0."""
    assert x25519(clamped(os.urandom(32)), LOW_ORDER[name]) == 0


def test_ordinary_points_are_not_low_order():
    for _ in range(5):
        share = os.urandom(32)
        assert x25519(clamped(os.urandom(32)), share) != 0
        assert not is_low_order(share)


def age_file(tmp_path) -> bytes:
    """A real file from the `age` command line."""
    recipient = str(pyrage.x25519.Identity.generate().to_public())
    (tmp_path / "clair").write_bytes(b"offre de prix")
    subprocess.run([AGE, "-r", recipient, "-o", "chiffre", "clair"], cwd=tmp_path, check=True)
    return (tmp_path / "chiffre").read_bytes()


def with_share(data: bytes, share: bytes) -> bytes:
    """The same file, its X25519 stanza's ephemeral share replaced (as a forger would: the
    server cannot check the header's MAC, it holds no key)."""
    encoded = base64.b64encode(share).rstrip(b"=")
    forged, count = re.subn(
        rb"^-> X25519 [A-Za-z0-9+/]{43}$", b"-> X25519 " + encoded, data, count=1, flags=re.MULTILINE
    )
    assert count == 1
    return forged


def test_a_file_made_by_age_is_accepted(tmp_path):
    assert parse_header(age_file(tmp_path)).x25519_count == 1


@pytest.mark.parametrize("name", sorted(LOW_ORDER))
def test_each_low_order_share_is_refused(tmp_path, name):
    data = with_share(age_file(tmp_path), LOW_ORDER[name])
    with pytest.raises(AgeFormatError, match="point d'ordre faible") as caught:
        parse_header(data)
    assert "aucune clé ne pourra jamais ouvrir ce fichier" in str(caught.value)
    assert "Chiffrez à nouveau" in str(caught.value)


def test_a_low_order_share_in_a_second_stanza_is_refused(tmp_path):
    """age stops at a stanza it cannot unwrap: one bad stanza among good ones is enough."""
    data = age_file(tmp_path)
    line = re.search(rb"^-> X25519 .*\n.*\n", data, flags=re.MULTILINE)[0]
    bad = with_share(line, bytes(32))
    with pytest.raises(AgeFormatError, match="point d'ordre faible"):
        parse_header(data.replace(line, line + bad, 1))


def test_the_api_refuses_the_first_chunk_and_stores_nothing(deposit_setup, tmp_path):
    token, base, file, ciphertext = deposit_setup
    forged = with_share(ciphertext, CANONICAL["ordre 8 (a)"])
    status, error = put_chunk(token, base, file["id"], 0, forged[: 64 * 1024])
    assert status == 415, error
    message = error["error"]["message"]
    assert message.startswith("« offre.pdf.age » refusé : ")
    assert "point d'ordre faible" in message
    assert "Chiffrez à nouveau" in message
    assert DepositFile.objects.get(pk=file["id"]).received == 0
    assert not DepositChunk.objects.exists()
    media = tmp_path / "media"
    assert (list(media.rglob("*.part")) if media.exists() else []) == []
