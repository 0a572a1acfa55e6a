"""The browser encryption client (static/offres/build/chiffrement.js, npm's age-encryption
bundled by esbuild) in Chromium: what it produces passes the server's age check and opens
with the matching identity, in memory and as a stream whose size is known in advance."""

import base64
import os
from pathlib import Path

import pyrage
import pytest

from offres.age_format import check_length, parse_header

BUNDLE = Path(__file__).resolve().parents[2] / "static" / "offres" / "build" / "chiffrement.js"

TO_BASE64 = """
(bytes) => {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}
"""


@pytest.fixture
def client_page(page):
    if not BUNDLE.exists():
        pytest.skip(f"the encryption client is not built ({BUNDLE}): run `make static` (needs npm)")
    page.goto("/preuves/")
    # As the deposit page loads it: from the platform (the policy refuses inline scripts).
    page.add_script_tag(url="/static/offres/build/chiffrement.js")
    return page


@pytest.fixture
def identity():
    return pyrage.x25519.Identity.generate()


def test_small_file_encrypted_in_the_browser_opens_with_the_identity(client_page, identity):
    recipient = str(identity.to_public())
    encoded = client_page.evaluate(
        f"""async (recipient) => {{
            const toBase64 = {TO_BASE64};
            const bytes = new TextEncoder().encode("offre de prix : MARQUEUR-EN-CLAIR-7319");
            return toBase64(await MarchesChiffrement.encryptBytes(bytes, recipient));
        }}""",
        recipient,
    )
    ciphertext = base64.b64decode(encoded)
    assert b"MARQUEUR-EN-CLAIR-7319" not in ciphertext
    header = parse_header(ciphertext)
    check_length(len(ciphertext), header)
    assert pyrage.decrypt(ciphertext, [identity]) == b"offre de prix : MARQUEUR-EN-CLAIR-7319"


def test_a_file_is_encrypted_as_a_stream_of_announced_size(client_page, identity):
    plaintext = os.urandom(3 * 1024 * 1024 + 123)
    result = client_page.evaluate(
        f"""async ([recipient, data]) => {{
            const toBase64 = {TO_BASE64};
            const raw = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            const file = new File([raw], "offre.pdf", {{ type: "application/pdf" }});
            const {{ stream, size }} = await MarchesChiffrement.encryptFile(file, recipient);
            const bytes = new Uint8Array(await new Response(stream).arrayBuffer());
            return {{ size, length: bytes.length, data: toBase64(bytes) }};
        }}""",
        [str(identity.to_public()), base64.b64encode(plaintext).decode()],
    )
    ciphertext = base64.b64decode(result["data"])
    assert result["size"] == result["length"] == len(ciphertext)
    check_length(len(ciphertext), parse_header(ciphertext))
    assert pyrage.decrypt(ciphertext, [identity]) == plaintext


def test_a_malformed_recipient_is_refused_in_french(client_page):
    message = client_page.evaluate(
        """async () => {
            try {
                await MarchesChiffrement.encryptBytes(new Uint8Array([1]), "age1pasunecle");
                return "chiffré";
            } catch (error) {
                return error.message;
            }
        }"""
    )
    assert message == "Destinataire de chiffrement invalide : « age1pasunecle »."
