"""The server's check of age v1 files, on files made by the real `age` command line."""

import os
import shutil
import subprocess

import pyrage
import pytest

from offres.age_format import CHUNK, TAG, AgeFormatError, check_length, parse_header

AGE = shutil.which("age")
pytestmark = pytest.mark.skipif(AGE is None, reason="needs Debian's package age")


@pytest.fixture(scope="module")
def recipient():
    return str(pyrage.x25519.Identity.generate().to_public())


def encrypt(tmp_path, recipient, plaintext: bytes, *args: str) -> bytes:
    (tmp_path / "clair").write_bytes(plaintext)
    subprocess.run([AGE, *args, "-r", recipient, "-o", "chiffre", "clair"], cwd=tmp_path, check=True)
    return (tmp_path / "chiffre").read_bytes()


@pytest.mark.parametrize("size", [0, 1, 1000, CHUNK, CHUNK + 1, 3 * CHUNK + 17])
def test_files_made_by_age_pass(tmp_path, recipient, size):
    data = encrypt(tmp_path, recipient, os.urandom(size))
    header = parse_header(data[:70_000])
    assert header.x25519_count == 1
    check_length(len(data), header)


def test_impossible_lengths_are_caught(tmp_path, recipient):
    """Length alone catches only impossible sizes (the AEAD, at opening, catches the rest):
    an empty file cut by one byte, or bytes added after a final full chunk."""
    empty = encrypt(tmp_path, recipient, b"")
    header = parse_header(empty)
    with pytest.raises(AgeFormatError, match="tronqué"):
        check_length(len(empty) - 1, header)
    full = encrypt(tmp_path, recipient, os.urandom(CHUNK))
    header = parse_header(full)
    for extra in (7, TAG):
        with pytest.raises(AgeFormatError):
            check_length(len(full) + extra, header)


def test_two_recipients(tmp_path, recipient):
    other = str(pyrage.x25519.Identity.generate().to_public())
    data = encrypt(tmp_path, recipient, b"offre", "-r", other)
    assert parse_header(data).x25519_count == 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"%PDF-1.7\n", "ce fichier n'est pas chiffré avec age"),
        (b"", "ce fichier n'est pas chiffré avec age"),
        (b"age-encryption.org/v1\n-> X25519 abc\n", "incomplet"),
        (b"age-encryption.org/v1\n--- " + b"A" * 43 + b"\n", "aucun destinataire X25519"),
        (b"age-encryption.org/v1\nhello\n", "« -> » ou « --- » attendu"),
    ],
)
def test_what_is_not_age_is_refused_in_french(data, message):
    with pytest.raises(AgeFormatError, match=message):
        parse_header(data)


def test_armored_files_are_refused_with_advice(tmp_path, recipient):
    data = encrypt(tmp_path, recipient, b"offre", "-a")
    with pytest.raises(AgeFormatError, match="envoyez le fichier binaire"):
        parse_header(data)


def test_passphrase_files_are_refused(tmp_path, recipient):
    genuine = encrypt(tmp_path, recipient, b"offre")
    lines = genuine.split(b"\n")
    scrypt = b"\n".join([lines[0], b"-> scrypt " + b"A" * 22 + b" 18", b"A" * 43, *lines[3:]])
    with pytest.raises(AgeFormatError, match="phrase de passe"):
        parse_header(scrypt)


def test_tampered_headers_are_refused(tmp_path, recipient):
    genuine = encrypt(tmp_path, recipient, b"offre")
    lines = genuine.split(b"\n")
    mac_line = next(i for i, line in enumerate(lines) if line.startswith(b"--- "))
    padded = lines.copy()
    padded[mac_line] = lines[mac_line] + b"="
    with pytest.raises(AgeFormatError, match="base64"):
        parse_header(b"\n".join(padded))
    short_key = lines.copy()
    short_key[1] = b"-> X25519 AAAA"
    with pytest.raises(AgeFormatError, match="X25519"):
        parse_header(b"\n".join(short_key))


def test_payload_length_rules():
    from offres.age_format import Header

    header = Header((), 100)
    check_length(100 + 16 + TAG, header)  # empty plaintext: one empty final chunk
    check_length(100 + 16 + CHUNK + TAG, header)  # one full final chunk
    with pytest.raises(AgeFormatError, match="dernier bloc vide"):
        check_length(100 + 16 + CHUNK + TAG + TAG, header)
    with pytest.raises(AgeFormatError, match="tronqué"):
        check_length(100 + 16 + 5, header)
