"""The standalone verifier (preuves/verifier.py): Merkle proofs against a reference tree
written straight from RFC 9162, RFC 3161 tokens made by `openssl ts -reply`, checkpoints,
proof bundles and the command line run as a plain script. No database."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import functools
import hashlib
import itertools
import json
import os
import random
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from preuves import verifier
from preuves.verifier import VerificationError

SCRIPT = Path(__file__).resolve().parents[2] / "preuves" / "verifier.py"
ORIGIN = "marches-ouverts.example/journal-des-preuves"
POLICY = "1.2.250.1.223.1"
OTHER_POLICY = "1.2.250.1.223.2"
SERIAL = 0x0123456789ABCDEF0123456789ABCDEF  # more than 64 bits, as the platform's are

# --- Reference Merkle tree, straight from RFC 9162 §2.1 -------------------------------------


def split(n: int) -> int:
    """The largest power of two smaller than n."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


class Tree:
    """MTH, PATH and PROOF as the RFC defines them, recursively, over a list of leaves."""

    def __init__(self, leaves: list[bytes]) -> None:
        self.leaves = leaves
        self.mth = functools.lru_cache(maxsize=None)(self._mth)

    def _mth(self, start: int, end: int) -> bytes:
        n = end - start
        if n == 0:
            return hashlib.sha256(b"").digest()
        if n == 1:
            return hashlib.sha256(b"\x00" + self.leaves[start]).digest()
        k = split(n)
        return hashlib.sha256(b"\x01" + self.mth(start, start + k) + self.mth(start + k, end)).digest()

    def root(self, size: int) -> bytes:
        return self.mth(0, size)

    def path(self, m: int, start: int, end: int) -> list[bytes]:
        n = end - start
        if n == 1:
            return []
        k = split(n)
        if m < k:
            return [*self.path(m, start, start + k), self.mth(start + k, end)]
        return [*self.path(m - k, start + k, end), self.mth(start, start + k)]

    def inclusion(self, m: int, size: int) -> list[bytes]:
        return self.path(m, 0, size)

    def subproof(self, m: int, start: int, end: int, complete: bool) -> list[bytes]:
        n = end - start
        if m == n:
            return [] if complete else [self.mth(start, end)]
        k = split(n)
        if m <= k:
            return [*self.subproof(m, start, start + k, complete), self.mth(start + k, end)]
        return [*self.subproof(m - k, start + k, end, False), self.mth(start, start + k)]

    def consistency(self, first: int, second: int) -> list[bytes]:
        return self.subproof(first, 0, second, True)

    def leaf(self, index: int) -> bytes:
        return verifier.leaf_hash(self.leaves[index])


TREE = Tree([f"feuille {i}".encode() for i in range(130)])
SIZES = range(1, 65)


def flipped(value: bytes, position: int = 0) -> bytes:
    return value[:position] + bytes([value[position] ^ 1]) + value[position + 1 :]


RFC6962_LEAVES = [
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
]
RFC6962_ROOTS = {
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}


def test_hashes_and_known_roots():
    assert hashlib.sha256(b"").digest() == verifier.EMPTY_ROOT
    assert verifier.leaf_hash(b"ab") == hashlib.sha256(b"\x00ab").digest()
    assert verifier.node_hash(b"l", b"r") == hashlib.sha256(b"\x01lr").digest()
    tree = Tree([bytes.fromhex(leaf) for leaf in RFC6962_LEAVES])
    assert tree.root(0) == verifier.EMPTY_ROOT
    for size, root in RFC6962_ROOTS.items():
        assert tree.root(size).hex() == root
    for size in range(1, 9):
        for index in range(size):
            proof = tree.inclusion(index, size)
            assert verifier.root_from_inclusion(index, size, tree.leaf(index), proof) == tree.root(size)


@pytest.mark.parametrize("size", SIZES)
def test_inclusion_proofs(size):
    root = TREE.root(size)
    for index in range(size):
        leaf, proof = TREE.leaf(index), TREE.inclusion(index, size)
        assert verifier.root_from_inclusion(index, size, leaf, proof) == root
        verifier.verify_inclusion(index, size, leaf, proof, root)
        wrong = []
        for position in range(len(proof)):
            changed = list(proof)
            changed[position] = flipped(changed[position], position % 32)
            wrong.append((index, size, leaf, changed, root))
        if proof:
            wrong.append((index, size, leaf, proof[:-1], root))
        wrong.append((index, size, leaf, [*proof, TREE.leaf(0)], root))
        wrong.append((index, size, flipped(leaf), proof, root))
        wrong.append((index, size, leaf, proof, flipped(root, 31)))
        wrong.extend((other, size, leaf, proof, root) for other in range(size) if other != index)
        # Another size, with that tree's true root: the proof belongs to one size only.
        wrong.extend(
            (index, other, leaf, proof, TREE.root(other))
            for other in (size - 1, size + 1, size * 2)
            if other > index
        )
        for case in wrong:
            with pytest.raises(VerificationError):
                verifier.verify_inclusion(*case)


def test_inclusion_errors_say_why():
    leaf, proof = TREE.leaf(5), TREE.inclusion(5, 12)
    with pytest.raises(VerificationError, match="rang 12 hors de l'arbre"):
        verifier.root_from_inclusion(12, 12, leaf, proof)
    with pytest.raises(VerificationError, match="l'arbre de taille 0 est vide"):
        verifier.root_from_inclusion(0, 0, leaf, [])
    with pytest.raises(
        VerificationError, match="3 empreintes, alors que le rang 5 d'un arbre de taille 12 en demande 4"
    ):
        verifier.root_from_inclusion(5, 12, leaf, proof[:3])
    with pytest.raises(VerificationError, match="positif"):
        verifier.root_from_inclusion(-1, 12, leaf, proof)
    with pytest.raises(VerificationError, match="32 octets"):
        verifier.root_from_inclusion(5, 12, leaf, [*proof[:3], b"court"])
    root = TREE.root(12)
    with pytest.raises(VerificationError, match=f"racine {root[:8].hex()}"):
        verifier.verify_inclusion(5, 12, leaf, proof, TREE.root(11))


@pytest.mark.parametrize("second", SIZES)
def test_consistency_proofs(second):
    new_root = TREE.root(second)
    for first in range(1, second + 1):
        old_root, proof = TREE.root(first), TREE.consistency(first, second)
        verifier.verify_consistency(first, second, old_root, new_root, proof)
        wrong = []
        for position in range(len(proof)):
            changed = list(proof)
            changed[position] = flipped(changed[position], position % 32)
            wrong.append((first, second, old_root, new_root, changed))
        if proof:
            wrong.append((first, second, old_root, new_root, proof[:-1]))
        wrong.append((first, second, old_root, new_root, [*proof, TREE.leaf(0)]))
        wrong.append((first, second, flipped(old_root), new_root, proof))
        wrong.append((first, second, old_root, flipped(new_root), proof))
        wrong.append((first, second + 1, old_root, TREE.root(second + 1), proof))
        wrong.extend(
            (other, second, TREE.root(other), new_root, proof)
            for other in (first - 1, first + 1)
            if 1 <= other <= second
        )
        for case in wrong:
            with pytest.raises(VerificationError):
                verifier.verify_consistency(*case)


def test_consistency_edge_cases():
    root = TREE.root(5)
    verifier.verify_consistency(5, 5, root, root, [])
    with pytest.raises(VerificationError, match="même taille"):
        verifier.verify_consistency(5, 5, root, root, [root])
    with pytest.raises(VerificationError, match="deux racines différentes"):
        verifier.verify_consistency(5, 5, root, TREE.root(4), [])
    with pytest.raises(VerificationError, match="au moins 1"):
        verifier.verify_consistency(0, 5, verifier.EMPTY_ROOT, root, [])
    with pytest.raises(VerificationError, match="inférieur ou égal"):
        verifier.verify_consistency(6, 5, TREE.root(6), root, [])
    rewritten = Tree([b"autre", *TREE.leaves[1:]])
    with pytest.raises(VerificationError, match=r"réécrit|ancienne racine"):
        verifier.verify_consistency(3, 8, TREE.root(3), rewritten.root(8), rewritten.consistency(3, 8))


# --- A small DER encoder, for the tokens openssl will not make -------------------------------


def der(tag: int, *parts: bytes) -> bytes:
    content = b"".join(parts)
    if len(content) < 0x80:
        length = bytes([len(content)])
    else:
        raw = len(content).to_bytes((len(content).bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + content


def der_int(value: int) -> bytes:
    return der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True))


def der_oid(dotted: str) -> bytes:
    arcs = [int(arc) for arc in dotted.split(".")]
    body = b""
    for arc in [40 * arcs[0] + arcs[1], *arcs[2:]]:
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | arc & 0x7F)
            arc >>= 7
        body += bytes(reversed(chunk))
    return der(0x06, body)


SHA256_OID = "2.16.840.1.101.3.4.2.1"


def tst_info(digest: bytes, *, gen_time: dt.datetime, serial: int = 42) -> bytes:
    imprint = der(0x30, der(0x30, der_oid(SHA256_OID), der(0x05)), der(0x04, digest))
    stamp = gen_time.astimezone(dt.UTC).strftime("%Y%m%d%H%M%SZ").encode()
    return der(0x30, der_int(1), der_oid(POLICY), imprint, der_int(serial), der(0x18, stamp))


def forge_token(content: bytes, cert: x509.Certificate, key, certs: list[x509.Certificate]) -> bytes:
    """A TimeStampResp signed by `key`, for the certificates `openssl ts -reply` refuses."""
    cert_der = cert.public_bytes(serialization.Encoding.DER)
    sha256 = der(0x30, der_oid(SHA256_OID))
    attributes = [
        der(0x30, der_oid(verifier.OID_CONTENT_TYPE), der(0x31, der_oid(verifier.OID_TST_INFO))),
        der(
            0x30, der_oid(verifier.OID_MESSAGE_DIGEST), der(0x31, der(0x04, hashlib.sha256(content).digest()))
        ),
        der(
            0x30,
            der_oid(verifier.OID_SIGNING_CERTIFICATE_V2),
            der(0x31, der(0x30, der(0x30, der(0x30, der(0x04, hashlib.sha256(cert_der).digest()))))),
        ),
    ]
    signed_attrs = der(0x31, *sorted(attributes))
    if isinstance(key, ed25519.Ed25519PrivateKey):
        signature, algorithm = key.sign(signed_attrs), "1.3.101.112"
    else:
        signature, algorithm = key.sign(signed_attrs, ec.ECDSA(hashes.SHA256())), "1.2.840.10045.4.3.2"
    issuer = cert.issuer.public_bytes()
    signer_info = der(
        0x30,
        der_int(1),
        der(0x30, issuer, der_int(cert.serial_number)),
        sha256,
        b"\xa0" + signed_attrs[1:],
        der(0x30, der_oid(algorithm)),
        der(0x04, signature),
    )
    signed_data = der(
        0x30,
        der_int(3),
        der(0x31, sha256),
        der(0x30, der_oid(verifier.OID_TST_INFO), der(0xA0, der(0x04, content))),
        der(0xA0, *(c.public_bytes(serialization.Encoding.DER) for c in certs)),
        der(0x31, signer_info),
    )
    token = der(0x30, der_oid(verifier.OID_SIGNED_DATA), der(0xA0, signed_data))
    return der(0x30, der(0x30, der_int(0)), token)


# --- A PKI and a TSA run by `openssl ts -reply` ----------------------------------------------


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Essais"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _certificate(
    common_name: str,
    key,
    issuer: tuple[x509.Certificate, object] | None,
    *,
    ca: bool = False,
    eku_critical: bool | None = True,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    issuer_name, issuer_key = (issuer[0].subject, issuer[1]) if issuer else (_name(common_name), key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - dt.timedelta(days=1))
        .not_valid_after(not_after or now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca and eku_critical is not None:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=eku_critical
        )
    algorithm = None if isinstance(issuer_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(issuer_key, algorithm)


TSA_CONFIG = """\
[ tsa ]
default_tsa = tsa_config

[ tsa_config ]
serial = {folder}/serial
crypto_device = builtin
signer_digest = {signer_digest}
default_policy = {policy}
other_policies = {other_policy}
digests = sha256, sha384, sha512
accuracy = secs:1, millisecs:500
clock_precision_digits = 3
ordering = yes
tsa_name = yes
ess_cert_id_chain = no
ess_cert_id_alg = {ess}
"""


@dataclass
class Signer:
    cert: x509.Certificate
    key: object
    cert_file: Path
    key_file: Path
    chain_file: Path


class Pki:
    """A root CA, an intermediate, TSA certificates (ECDSA P-256 under the root, RSA-2048 under
    the intermediate, and broken ones), and `stamp()`, which asks `openssl ts -reply`."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.counter = itertools.count()
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.root = _certificate("AC racine d'essai", self.root_key, None, ca=True)
        self.intermediate_key = ec.generate_private_key(ec.SECP384R1())
        self.intermediate = _certificate(
            "AC intermédiaire d'essai", self.intermediate_key, (self.root, self.root_key), ca=True
        )
        other_key = ec.generate_private_key(ec.SECP256R1())
        self.other_ca = _certificate("Autre AC", other_key, None, ca=True)
        self.root_file = self._write("root.pem", self.root)
        ec_key = ec.generate_private_key(ec.SECP256R1())
        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        expired_key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        self.signers = {
            "ec": self._signer(
                "ec", _certificate("Horodatage ECDSA", ec_key, (self.root, self.root_key)), ec_key
            ),
            "rsa": self._signer(
                "rsa",
                _certificate("Horodatage RSA", rsa_key, (self.intermediate, self.intermediate_key)),
                rsa_key,
                chain=[self.intermediate, self.root],
            ),
            "expired": self._signer(
                "expired",
                _certificate(
                    "Horodatage expiré",
                    expired_key,
                    (self.root, self.root_key),
                    not_before=now - dt.timedelta(days=10),
                    not_after=now - dt.timedelta(days=1),
                ),
                expired_key,
            ),
        }
        (folder / "serial").write_text(f"{SERIAL:032X}\n")
        for ess in ("sha256", "sha1"):
            for digest in ("sha256", "sha512"):
                (folder / f"tsa-{ess}-{digest}.cnf").write_text(
                    TSA_CONFIG.format(
                        folder=folder, signer_digest=digest, policy=POLICY, other_policy=OTHER_POLICY, ess=ess
                    )
                )

    def _write(self, name: str, *certs: x509.Certificate) -> Path:
        path = self.folder / name
        path.write_bytes(b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certs))
        return path

    def _signer(self, name: str, cert: x509.Certificate, key, chain: list | None = None) -> Signer:
        key_file = self.folder / f"{name}.key"
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return Signer(
            cert,
            key,
            self._write(f"{name}.pem", cert),
            key_file,
            self._write(f"{name}-chain.pem", *(chain or [self.root])),
        )

    def stamp(
        self,
        data: bytes,
        *,
        signer: str = "ec",
        digest: str = "sha256",
        cert: bool = True,
        nonce: bool = True,
        ess: str = "sha256",
        signer_digest: str = "sha256",
        token_out: bool = False,
    ) -> bytes:
        """A TimeStampResp (or with token_out a bare TimeStampToken) over `data`, from openssl."""
        n = next(self.counter)
        data_file, query, reply = (self.folder / f"{n}.{ext}" for ext in ("bin", "tsq", "tsr"))
        data_file.write_bytes(data)
        query_args = ["openssl", "ts", "-query", "-data", str(data_file), f"-{digest}", "-out", str(query)]
        query_args += ["-cert"] if cert else []
        query_args += [] if nonce else ["-no_nonce"]
        subprocess.run(query_args, check=True, capture_output=True)
        chosen = self.signers[signer]
        reply_args = [
            "openssl", "ts", "-reply",
            "-config", str(self.folder / f"tsa-{ess}-{signer_digest}.cnf"),
            "-queryfile", str(query),
            "-signer", str(chosen.cert_file),
            "-inkey", str(chosen.key_file),
            "-chain", str(chosen.chain_file),
            "-out", str(reply),
        ]  # fmt: skip
        reply_args += ["-token_out"] if token_out else []
        done = subprocess.run(reply_args, capture_output=True, text=True)
        if done.returncode or not reply.exists():
            raise RuntimeError(f"openssl ts -reply: {done.stderr}")
        return reply.read_bytes()


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("needs Debian's package openssl")
    return Pki(tmp_path_factory.mktemp("pki"))


# --- RFC 3161 tokens -------------------------------------------------------------------------

DATA = "offre de l'entreprise, pièce 1".encode()


@pytest.fixture(scope="session")
def token(pki):
    return pki.stamp(DATA)


@pytest.mark.parametrize(
    ("options", "algorithm"),
    [
        ({}, "sha256"),
        ({"digest": "sha384"}, "sha384"),
        ({"digest": "sha512", "signer_digest": "sha512"}, "sha512"),
        ({"signer": "rsa"}, "sha256"),
        ({"signer": "rsa", "digest": "sha384"}, "sha384"),
        ({"signer": "rsa", "digest": "sha512", "signer_digest": "sha512"}, "sha512"),
        ({"nonce": False}, "sha256"),
        ({"ess": "sha1"}, "sha256"),
        ({"signer": "rsa", "ess": "sha1"}, "sha256"),
        ({"token_out": True}, "sha256"),
    ],
)
def test_openssl_tokens_verify(pki, options, algorithm):
    before = dt.datetime.now(dt.UTC)
    tsr = pki.stamp(DATA, **options)
    digest = hashlib.new(algorithm, DATA).digest()
    info = verifier.verify_timestamp(tsr, hashed_message=digest, ca_certs=[pki.root])
    assert info.hashed_message == digest
    assert info.hash_algorithm == algorithm.upper().replace("SHA", "SHA-")
    assert info.policy == POLICY
    assert info.serial_number > SERIAL > 2**64
    assert info.gen_time.tzinfo == dt.UTC
    assert (
        before - dt.timedelta(seconds=2) <= info.gen_time <= dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2)
    )
    assert info.accuracy == "± 1 s 500 ms"
    assert (info.nonce is None) == (options.get("nonce") is False)
    signer = "RSA" if options.get("signer") == "rsa" else "ECDSA"
    assert info.tsa_name == f"CN=Horodatage {signer},O=Essais"
    assert info.signer_certificate == pki.signers[options.get("signer", "ec")].cert


def test_token_without_certificate_needs_it_among_the_trusted_ones(pki):
    tsr = pki.stamp(DATA, cert=False)
    with pytest.raises(VerificationError, match=r"certificat du signataire .* introuvable"):
        verifier.verify_timestamp(tsr, hashed_message=None, ca_certs=[pki.root])
    info = verifier.verify_timestamp(tsr, hashed_message=None, ca_certs=[pki.root, pki.signers["ec"].cert])
    assert info.tsa_name == "CN=Horodatage ECDSA,O=Essais"


def test_token_for_other_data_is_refused(pki, token):
    with pytest.raises(VerificationError, match=r"le jeton horodate .* alors que .* était attendue"):
        verifier.verify_timestamp(
            token, hashed_message=hashlib.sha256(b"autre").digest(), ca_certs=[pki.root]
        )


def test_tampered_tokens_are_refused(pki, token):
    policy = der_oid(POLICY)
    assert token.count(policy) == 1
    at = token.index(policy) + len(policy) - 1
    cert = pki.signers["ec"].cert.public_bytes(serialization.Encoding.DER)
    cert_at = token.index(cert)
    cases = {
        "messageDigest": flipped(token, at),  # the TSTInfo
        "signature du jeton invalide": flipped(token, len(token) - 1),
        "certificat": flipped(token, cert_at + len(cert) - 8),  # inside the TSA certificate's signature
        "dépasse la fin des données": token[:-10],
        "jeton d'horodatage": random.Random(1).randbytes(200),
    }
    for message, tampered in cases.items():
        with pytest.raises(VerificationError, match=message):
            verifier.verify_timestamp(tampered, hashed_message=None, ca_certs=[pki.root])


def test_rsa_token_with_a_tampered_signature(pki):
    tsr = pki.stamp(DATA, signer="rsa")
    with pytest.raises(VerificationError, match="signature du jeton invalide"):
        verifier.verify_timestamp(flipped(tsr, len(tsr) - 3), hashed_message=None, ca_certs=[pki.root])


def test_chain_must_reach_a_trusted_authority(pki, token):
    with pytest.raises(VerificationError, match="n'est émis par aucune des autorités de confiance"):
        verifier.verify_timestamp(token, hashed_message=None, ca_certs=[pki.other_ca])
    with pytest.raises(VerificationError, match="aucun certificat d'autorité"):
        verifier.verify_timestamp(token, hashed_message=None, ca_certs=[])
    # The RSA TSA's certificate is under the intermediate, which only the token carries.
    verifier.verify_timestamp(pki.stamp(DATA, signer="rsa"), hashed_message=None, ca_certs=[pki.root])


def test_signer_certificate_expired_at_gen_time(pki):
    tsr = pki.stamp(DATA, signer="expired")  # openssl signs anyway: only the verifier can notice
    with pytest.raises(VerificationError, match="n'était pas valide le"):
        verifier.verify_timestamp(tsr, hashed_message=None, ca_certs=[pki.root])


def test_tsa_certificate_without_critical_eku(pki):
    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    content = tst_info(hashlib.sha256(DATA).digest(), gen_time=now)
    good = _certificate("Horodatage forgé", key, (pki.root, pki.root_key))
    verifier.verify_timestamp(
        forge_token(content, good, key, [good]), hashed_message=None, ca_certs=[pki.root]
    )
    for critical, message in ((False, "n'est pas critique"), (None, "n'a pas d'usage étendu")):
        cert = _certificate(
            "Horodatage sans EKU critique", key, (pki.root, pki.root_key), eku_critical=critical
        )
        with pytest.raises(VerificationError, match=message):
            verifier.verify_timestamp(
                forge_token(content, cert, key, [cert]), hashed_message=None, ca_certs=[pki.root]
            )


def test_unsupported_signature_algorithm_is_named(pki):
    key = ed25519.Ed25519PrivateKey.generate()
    cert = _certificate("Horodatage Ed25519", key, (pki.root, pki.root_key))
    content = tst_info(hashlib.sha256(DATA).digest(), gen_time=dt.datetime.now(dt.UTC))
    with pytest.raises(VerificationError, match="algorithme de signature Ed25519 non accepté"):
        verifier.verify_timestamp(
            forge_token(content, cert, key, [cert]), hashed_message=None, ca_certs=[pki.root]
        )


def test_rejection_reports_status_and_text():
    status = der(
        0x30, der_int(2), der(0x30, der(0x0C, "politique refusée".encode())), der(0x03, b"\x00\x00\x01")
    )
    with pytest.raises(
        VerificationError, match=r"statut 2 \(rejection\) : politique refusée \[unacceptedPolicy\]"
    ):
        verifier.verify_timestamp(der(0x30, status), hashed_message=None, ca_certs=[])


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "fin inattendue"),
        (b"\x30\x80\x00\x00", "longueur indéfinie"),
        (b"\x30\x05\x02\x01\x00", "dépasse la fin"),
        (b"\x30\x81\x03\x02\x01\x00", "non minimale"),
        (b"\x30\x03\x02\x01\x00\xff", "octets en trop"),
        (b"\x30\x03\x02\x01\x00", "status : SEQUENCE attendu, INTEGER reçu"),
        (der(0x30, der_oid(verifier.OID_SIGNED_DATA)), "élément « content » absent"),
    ],
)
def test_der_reader_is_strict(pki, data, message):
    with pytest.raises(VerificationError, match=message):
        verifier.verify_timestamp(data, hashed_message=None, ca_certs=[pki.root])


def test_arbitrary_bytes_only_raise_verification_error(pki, token):
    """Fuzz: truncations, bit flips and random bytes are refused cleanly, never with a crash."""
    rsa_token = pki.stamp(DATA, signer="rsa", ess="sha1")
    generator = random.Random(3161)
    inputs = [generator.randbytes(generator.randrange(0, 600)) for _ in range(300)]
    for sample in (token, rsa_token):
        inputs += [sample[:end] for end in range(len(sample))]
        inputs += [flipped(sample, position) for position in range(len(sample))]
        for _ in range(300):
            data = bytearray(sample)
            data[generator.randrange(len(data))] = generator.randrange(256)
            inputs.append(bytes(data))
    accepted = set()
    for data in inputs:
        try:
            verifier.verify_timestamp(data, hashed_message=None, ca_certs=[pki.root])
        except VerificationError:
            continue
        accepted.add(data)
    # Some bytes are neither signed nor checked (the digestAlgorithms set, the copy of the root
    # certificate the token carries, …), but none of the timestamped content.
    content = verifier._signed_data(verifier._token_content_info(token))[0]
    start = token.index(content)
    assert not accepted & {flipped(token, position) for position in range(start, start + len(content))}


# --- Checkpoints -----------------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def canonical(data: dict) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def raw_public(key: ed25519.Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_pem(key: ed25519.Ed25519PrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def sign_checkpoint(
    tree: Tree, size: int, key: ed25519.Ed25519PrivateKey, *, pki: Pki | None = None, origin: str = ORIGIN
) -> dict:
    """What GET /preuves/log/checkpoint returns, made here with the verifier's own format functions."""
    root = tree.root(size)
    body = verifier.note_body(origin, size, root)
    note = verifier.signed_note(
        body, origin, verifier.key_id(origin, raw_public(key)), key.sign(body.encode())
    )
    return {
        "origin": origin,
        "size": size,
        "root_hash": root.hex(),
        "note": note,
        "created_at": "2026-12-02T06:00:00.123+00:00",
        "timestamp": {"tsr": b64(pki.stamp(note.encode()))} if pki else None,
    }


def test_note_format_is_c2sp():
    key = ed25519.Ed25519PrivateKey.generate()
    root = TREE.root(12)
    body = verifier.note_body(ORIGIN, 12, root)
    assert body == f"{ORIGIN}\n12\n{b64(root)}\n"
    key_id = verifier.key_id(ORIGIN, raw_public(key))
    assert key_id == hashlib.sha256(ORIGIN.encode() + b"\n\x01" + raw_public(key)).digest()[:4]
    signature = key.sign(body.encode())
    note = verifier.signed_note(body, ORIGIN, key_id, signature)
    assert note == f"{body}\n\u2014 {ORIGIN} {b64(key_id + signature)}\n"
    checkpoint = verifier.verify_checkpoint(sign_checkpoint(TREE, 12, key), key.public_key())
    assert (checkpoint.origin, checkpoint.size, checkpoint.root, checkpoint.tsr) == (ORIGIN, 12, root, None)
    assert checkpoint.signatures == [(ORIGIN, key_id, checkpoint.signatures[0][2])]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c.update(note=c["note"].replace("\n\n", "\n")), "pas de ligne vide"),
        (lambda c: c.update(note=c["note"][:-1]), "saut de ligne"),
        (
            lambda c: c.update(note=c["note"].replace("\u2014", "-")),
            "ligne de signature n°1 de la note mal formée",
        ),
        (lambda c: c.update(note=c["note"].replace("\n12\n", "\n012\n")), "n'est pas une taille décimale"),
        (lambda c: c.update(note=c["note"].replace("\n12\n", "\n1\t2\n")), "caractère de contrôle"),
        (lambda c: c.update(size=13), "la note annonce 12 feuilles, le champ « size » en annonce 13"),
        (lambda c: c.update(origin="autre"), "l'origine de la note"),
        (lambda c: c.update(root_hash=TREE.root(11).hex()), "la racine de la note"),
        (lambda c: c.update(root_hash="ABCD"), "hexadécimale en minuscules"),
        (lambda c: c.pop("note"), "champ « note » absent"),
        (lambda c: c.update(size="12"), "champ « size » : un entier est attendu, une chaîne reçu"),
        (
            lambda c: c.update(note=c["note"].replace(f"{ORIGIN}\n", "x\n", 1), origin="x"),
            "aucune signature au nom",
        ),
        (lambda c: c.update(note=c["note"][:-3] + "AA\n"), "signature Ed25519 de la note invalide"),
    ],
)
def test_checkpoint_errors(change, message):
    key = ed25519.Ed25519PrivateKey.generate()
    checkpoint = sign_checkpoint(TREE, 12, key)
    change(checkpoint)
    with pytest.raises(VerificationError, match=message):
        verifier.verify_checkpoint(checkpoint, key.public_key())


def test_checkpoint_signed_by_another_key():
    checkpoint = sign_checkpoint(TREE, 12, ed25519.Ed25519PrivateKey.generate())
    with pytest.raises(VerificationError, match="ce n'est pas la même clé"):
        verifier.verify_checkpoint(checkpoint, ed25519.Ed25519PrivateKey.generate().public_key())


# --- Proof bundles ---------------------------------------------------------------------------

DEPOSIT = "PK\x03\x04 l'offre chiffrée de l'entreprise".encode()
INDEX, SIZE = 5, 12


@dataclass
class Proof:
    pki: Pki
    key: ed25519.Ed25519PrivateKey
    tsr: bytes
    bundle: dict

    def build(self, leaf: dict, tsr: bytes | None) -> dict:
        leaves = [canonical({"type": "essai", "n": i}) for i in range(SIZE)]
        leaves[INDEX] = canonical(leaf)
        tree = Tree(leaves)
        return {
            "format": "marches-ouverts/preuve/1",
            "leaf": {"index": INDEX, "data": b64(leaves[INDEX])},
            "inclusion": {
                "index": INDEX,
                "size": SIZE,
                "leaf_hash": tree.leaf(INDEX).hex(),
                "proof": [h.hex() for h in tree.inclusion(INDEX, SIZE)],
            },
            "checkpoint": sign_checkpoint(tree, SIZE, self.key, pki=self.pki),
            "timestamp": {"tsr": b64(tsr)} if tsr else None,
            "log_public_key": public_pem(self.key),
            "tsa_ca": self.pki.root.public_bytes(serialization.Encoding.PEM).decode(),
        }

    def deposit_leaf(self, tsr: bytes) -> dict:
        return {
            "type": "depot.recu",
            "consultation": "2026-042",
            "digest": hashlib.sha256(DEPOSIT).hexdigest(),
            "timestamp_sha256": hashlib.sha256(tsr).hexdigest(),
        }


@pytest.fixture(scope="session")
def proof(pki):
    tsr = pki.stamp(DEPOSIT)
    made = Proof(pki, ed25519.Ed25519PrivateKey.generate(), tsr, {})
    made.bundle = made.build(made.deposit_leaf(tsr), tsr)
    return made


@pytest.fixture
def bundle(proof):
    return copy.deepcopy(proof.bundle)


CHECKS = [
    "Format",
    "Données de la feuille",
    "Empreinte de la feuille",
    "Rang de la feuille",
    "Point de contrôle",
    "Taille de l'arbre",
    "Preuve d'inclusion",
    "Clé du journal",
    "Signature du point de contrôle",
    "Autorité d'horodatage",
    "Horodatage du point de contrôle",
    "Jeton lié à la feuille",
    "Horodatage de la feuille",
]


def test_good_bundle(proof, bundle):
    report = verifier.verify_bundle(bundle)
    assert report.ok, report.first_failure
    assert [check.name for check in report.checks] == CHECKS
    assert all(check.message for check in report.checks)
    assert len(report.warnings) == 2
    assert "/preuves/log/key.pem" in report.warnings[0]
    assert "/preuves/tsa/ca.pem" in report.warnings[1]
    assert report.facts["leaf_index"] == INDEX
    assert report.facts["tree_size"] == SIZE
    assert report.facts["log_key_sha256"] == hashlib.sha256(raw_public(proof.key)).hexdigest()
    assert report.facts["checkpoint_gen_time"] <= dt.datetime.now(dt.UTC)
    assert report.facts["leaf_gen_time"] <= report.facts["checkpoint_gen_time"]
    assert report.facts["leaf_tsa"] == "CN=Horodatage ECDSA,O=Essais"

    pinned = verifier.verify_bundle(
        bundle, log_key=proof.key.public_key(), tsa_ca=[proof.pki.root], data=DEPOSIT
    )
    assert pinned.ok, pinned.first_failure
    assert [check.name for check in pinned.checks] == [*CHECKS, "Fichier fourni"]
    assert pinned.warnings == []


def _other_token(proof: Proof) -> bytes:
    return proof.pki.stamp(b"un autre fichier")


def _resign(bundle: dict, key: ed25519.Ed25519PrivateKey) -> None:
    body = bundle["checkpoint"]["note"].split("\n\n")[0] + "\n"
    bundle["checkpoint"]["note"] = verifier.signed_note(
        body, ORIGIN, verifier.key_id(ORIGIN, raw_public(key)), key.sign(body.encode())
    )


def _set_leaf(bundle: dict, **changes) -> None:
    content = json.loads(base64.b64decode(bundle["leaf"]["data"]))
    bundle["leaf"]["data"] = b64(canonical({**content, **changes}))


OTHER_KEY = ed25519.Ed25519PrivateKey.generate()

BUNDLE_CASES = {
    "leaf data changed": (
        lambda b, p: _set_leaf(b, consultation="2026-043"),
        {},
        "Empreinte de la feuille",
        "SHA-256",
    ),
    "leaf index changed": (lambda b, p: b["leaf"].update(index=4), {}, "Rang de la feuille", "le rang 4"),
    "inclusion index changed": (
        lambda b, p: b["inclusion"].update(index=4),
        {},
        "Rang de la feuille",
        "rang 4",
    ),
    "proof hash changed": (
        lambda b, p: b["inclusion"]["proof"].__setitem__(1, "00" * 32),
        {},
        "Preuve d'inclusion",
        "mène à la racine",
    ),
    "checkpoint size": (
        lambda b, p: b["checkpoint"].update(size=13),
        {},
        "Point de contrôle",
        "annonce 12 feuilles",
    ),
    "checkpoint root": (
        lambda b, p: b["checkpoint"].update(root_hash=TREE.root(12).hex()),
        {},
        "Point de contrôle",
        "checkpoint.root_hash",
    ),
    "signed by another key": (
        lambda b, p: _resign(b, OTHER_KEY),
        {},
        "Signature du point de contrôle",
        "pas la même clé",
    ),
    "pinned log key differs": (
        lambda b, p: None,
        {"log_key": OTHER_KEY.public_key()},
        "Signature du point de contrôle",
        "pas la même clé",
    ),
    "token for other data": (
        lambda b, p: b.update(p.build(p.deposit_leaf(tsr := _other_token(p)), tsr)),
        {},
        "Horodatage de la feuille",
        "le jeton horodate .* alors que .* était attendue",
    ),
    "tsr not the leaf's": (
        lambda b, p: b["timestamp"].update(tsr=b64(_other_token(p))),
        {},
        "Jeton lié à la feuille",
        "ce n'est pas le jeton inscrit",
    ),
    "no token though the leaf names one": (
        lambda b, p: b.update(timestamp=None),
        {},
        "Jeton lié à la feuille",
        "le lot n'en contient pas",
    ),
    "checkpoint token over other data": (
        lambda b, p: b["checkpoint"]["timestamp"].update(tsr=b["timestamp"]["tsr"]),
        {},
        "Horodatage du point de contrôle",
        "alors que",
    ),
    "missing proof": (
        lambda b, p: b["inclusion"].pop("proof"),
        {},
        "Preuve d'inclusion",
        "« inclusion.proof » absent",
    ),
    "missing note": (
        lambda b, p: b["checkpoint"].pop("note"),
        {},
        "Point de contrôle",
        "« checkpoint.note » absent",
    ),
    "missing leaf": (lambda b, p: b.pop("leaf"), {}, "Données de la feuille", "champ « leaf » absent"),
    "non-base64 data": (
        lambda b, p: b["leaf"].update(data="pas du base64 !"),
        {},
        "Données de la feuille",
        "base64",
    ),
    "non-base64 token": (
        lambda b, p: b["timestamp"].update(tsr="%%%"),
        {},
        "Jeton lié à la feuille",
        "base64",
    ),
    "truncated token": (
        lambda b, p: b["checkpoint"]["timestamp"].update(
            tsr=b64(base64.b64decode(b["timestamp"]["tsr"])[:-9])
        ),
        {},
        "Horodatage du point de contrôle",
        "dépasse la fin des données",
    ),
    "unknown format": (lambda b, p: b.update(format="autre/2"), {}, "Format", "format « autre/2 » inconnu"),
    "bad log key": (
        lambda b, p: b.update(log_public_key="clé"),
        {},
        "Clé du journal",
        "clé publique illisible",
    ),
    "pinned TSA differs": (
        lambda b, p: None,
        {"tsa_ca": "other"},
        "Horodatage du point de contrôle",
        "n'est émis par aucune",
    ),
    "wrong data file": (
        lambda b, p: None,
        {"data": b"un autre fichier"},
        "Fichier fourni",
        "pas le fichier déposé",
    ),
}


@pytest.mark.parametrize("case", BUNDLE_CASES)
def test_bad_bundles(proof, bundle, case):
    change, options, name, message = BUNDLE_CASES[case]
    change(bundle, proof)
    if options.get("tsa_ca") == "other":
        options = {"tsa_ca": [proof.pki.other_ca]}
    report = verifier.verify_bundle(bundle, **options)
    assert not report.ok
    failure = report.first_failure
    assert failure.name == name, failure
    assert failure.done
    assert re.search(message, failure.message), failure.message
    assert all(check.name != name or not check.ok for check in report.checks)


def _paths(value, prefix=()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for position, item in enumerate(value):
            yield (*prefix, position)
            yield from _paths(item, (*prefix, position))


def test_any_malformed_bundle_gives_a_report(proof, bundle):
    """Every field replaced by every JSON type, or removed: a report, never an exception, and a
    failed one unless the field is optional."""
    passed = set()
    for path in list(_paths(bundle)):
        for replacement in (None, 0, -1, True, 1.5, "", "x", [], {}, "delete"):
            changed = copy.deepcopy(bundle)
            parent = functools.reduce(lambda node, key: node[key], path[:-1], changed)
            if replacement == "delete" and isinstance(parent, dict):
                del parent[path[-1]]
            else:
                parent[path[-1]] = replacement
            report = verifier.verify_bundle(changed)
            assert all(isinstance(check.message, str) and check.message for check in report.checks)
            if report.ok:
                passed.add((".".join(map(str, path)), replacement))
    # A checkpoint without its timestamp is a weaker proof than the platform issues: refused.
    assert passed == {("checkpoint.created_at", value) for value in (None, "", "x", "delete")}
    for not_a_bundle in (None, [], "texte", 12):
        report = verifier.verify_bundle(not_a_bundle)
        assert report.checks[0].name == "Format"
        assert report.checks[0].message == "le lot de preuve n'est pas un objet JSON"
        assert all(not check.done for check in report.checks[1:])
        assert all(check.message.startswith("non vérifié : « ") for check in report.checks[1:])


def test_dependent_checks_are_not_done(bundle):
    bundle["checkpoint"]["size"] = 13
    report = verifier.verify_bundle(bundle)
    not_done = {check.name: check.message for check in report.checks if not check.done}
    names = [
        "Taille de l'arbre",
        "Preuve d'inclusion",
        "Signature du point de contrôle",
        "Horodatage du point de contrôle",
    ]
    assert not_done == dict.fromkeys(names, "non vérifié : « Point de contrôle » n'a pas abouti")


# --- Consistency between two checkpoints -----------------------------------------------------


@pytest.fixture(scope="session")
def history():
    key = ed25519.Ed25519PrivateKey.generate()
    leaves = [canonical({"type": "essai", "n": i}) for i in range(12)]
    tree = Tree(leaves)
    rewritten = Tree([*leaves[:2], canonical({"type": "essai", "n": "réécrit"}), *leaves[3:]])
    return {
        "key": key,
        "old": sign_checkpoint(tree, 5, key),
        "new": sign_checkpoint(tree, 12, key),
        "proof": {"first": 5, "second": 12, "proof": [h.hex() for h in tree.consistency(5, 12)]},
        "rewritten": sign_checkpoint(rewritten, 12, key),
        "rewritten_proof": {
            "first": 5,
            "second": 12,
            "proof": [h.hex() for h in rewritten.consistency(5, 12)],
        },
    }


def test_consistency_files(history):
    key = history["key"].public_key()
    report = verifier.verify_consistency_files(history["old"], history["new"], history["proof"], log_key=key)
    assert report.ok, report.first_failure
    assert report.facts["old_size"] == 5
    assert report.facts["new_size"] == 12

    report = verifier.verify_consistency_files(
        history["old"], history["rewritten"], history["rewritten_proof"], log_key=key
    )
    assert report.first_failure.name == "Preuve de cohérence"
    assert "l'arbre de taille 12 ne prolonge pas celui de taille 5" in report.first_failure.message

    report = verifier.verify_consistency_files(history["old"], history["new"], history["proof"])
    assert report.first_failure.name == "Clé du journal"
    assert "/preuves/log/key.pem" in report.first_failure.message

    wrong = {**history["proof"], "first": 4}
    report = verifier.verify_consistency_files(history["old"], history["new"], wrong, log_key=key)
    assert report.first_failure.name == "Tailles"

    other = sign_checkpoint(TREE, 12, history["key"], origin="autre.example/journal")
    report = verifier.verify_consistency_files(history["old"], other, history["proof"], log_key=key)
    assert report.first_failure.name == "Même journal"

    report = verifier.verify_consistency_files(
        history["old"], history["new"], history["proof"], log_key=OTHER_KEY.public_key()
    )
    assert report.first_failure.name == "Signature de l'ancien point de contrôle"

    report = verifier.verify_consistency_files([], history["new"], "x", log_key=key)
    assert [check.name for check in report.checks if check.ok] == [
        "Nouveau point de contrôle", "Clé du journal", "Signature du nouveau point de contrôle"
    ]  # fmt: skip


# --- The command line, run as a plain script -------------------------------------------------


@pytest.fixture
def files(tmp_path, proof, history):
    def write(name: str, content) -> str:
        path = tmp_path / name
        path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
        return str(path)

    bad = copy.deepcopy(proof.bundle)
    _set_leaf(bad, consultation="2026-043")
    return {
        "bundle": write("preuve.json", proof.bundle),
        "bad": write("mauvaise.json", bad),
        "invalid": write("invalide.json", b'{"format": '),
        "key": write("key.pem", public_pem(proof.key).encode()),
        "history_key": write("history-key.pem", public_pem(history["key"]).encode()),
        "ca": write("ca.pem", proof.pki.root.public_bytes(serialization.Encoding.PEM)),
        "deposit": write("offre.zip", DEPOSIT),
        "old": write("ancien.json", history["old"]),
        "new": write("nouveau.json", history["new"]),
        "proof": write("coherence.json", history["proof"]),
        "rewritten": write("reecrit.json", history["rewritten"]),
        "rewritten_proof": write("coherence-reecrite.json", history["rewritten_proof"]),
    }


def run_script(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_cli_good_bundle(tmp_path, files):
    done = run_script(
        tmp_path,
        files["bundle"],
        "--log-key",
        files["key"],
        "--tsa-ca",
        files["ca"],
        "--data",
        files["deposit"],
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[-1] == "Preuve valide."
    assert [line.split(" : ")[0] for line in lines[: len(CHECKS) + 1]] == [
        f"OK     {name}" for name in [*CHECKS, "Fichier fourni"]
    ]
    assert "ATTENTION" not in done.stdout
    assert re.search(
        r"Horodatage de la feuille : \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC, soit le .* heure de Paris",
        done.stdout,
    )

    # Keys taken from the bundle prove only that it is consistent with itself: exit 3.
    unpinned = run_script(tmp_path, files["bundle"])
    assert unpinned.returncode == 3
    assert unpinned.stdout.count("ATTENTION : ") == 2
    assert unpinned.stdout.splitlines()[-1].startswith("Preuve cohérente mais non authentifiée")


def test_cli_bad_bundle(tmp_path, files):
    done = run_script(tmp_path, files["bad"])
    assert done.returncode == 1
    assert "ÉCHEC  Empreinte de la feuille : " in done.stdout
    assert done.stdout.splitlines()[-1].startswith("Preuve invalide : Empreinte de la feuille : ")
    wrong_data = run_script(tmp_path, files["bundle"], "--data", files["key"])
    assert wrong_data.returncode == 1
    assert "ÉCHEC  Fichier fourni" in wrong_data.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["absent.json"], "fichier « absent.json » introuvable"),
        (["{invalid}"], "n'est pas du JSON valide"),
        ([], "un seul fichier de preuve est attendu"),
        (["{bundle}", "--inconnue"], "arguments inconnus"),
        (["{bundle}", "--log-key", "{bundle}"], "clé publique illisible"),
        (["{bundle}", "--tsa-ca", "absent.pem"], "introuvable"),
        (["--consistency", "{old}", "{new}", "{proof}"], "--log-key"),
        (["--consistency", "{old}", "{new}", "--log-key", "{history_key}"], "trois fichiers"),
    ],
)
def test_cli_usage_errors(tmp_path, files, args, message):
    done = run_script(tmp_path, *(arg.format(**files) for arg in args))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "utilisation : " in done.stderr
    assert message in done.stderr
    assert done.stdout == ""


def test_cli_help_is_french(tmp_path):
    done = run_script(tmp_path, "--help")
    assert done.returncode == 0
    assert done.stdout.startswith("utilisation : verifier.py")
    assert "afficher cette aide et quitter" in done.stdout
    assert "--consistency" in done.stdout


def test_cli_consistency(tmp_path, files):
    good = run_script(
        tmp_path,
        "--consistency",
        files["old"],
        files["new"],
        files["proof"],
        "--log-key",
        files["history_key"],
    )
    assert good.returncode == 0, good.stdout
    assert good.stdout.splitlines()[-1] == "Preuve valide."
    rewritten = run_script(
        tmp_path,
        "--consistency",
        files["old"],
        files["rewritten"],
        files["rewritten_proof"],
        "--log-key",
        files["history_key"],
    )
    assert rewritten.returncode == 1
    assert "ÉCHEC  Preuve de cohérence" in rewritten.stdout


def test_script_needs_neither_django_nor_asn1crypto(tmp_path, files):
    code = (
        "import runpy, sys\n"
        "sys.argv = sys.argv[1:]\n"
        "try:\n"
        "    runpy.run_path(sys.argv[0], run_name='__main__')\n"
        "except SystemExit as exit:\n"
        "    status = exit.code\n"
        "roots = {name.split('.')[0] for name in sys.modules}\n"
        "print(status, sorted(roots & {'django', 'asn1crypto', 'rfc3161_client', 'preuves', 'config'}))\n"
    )
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", code, str(SCRIPT), files["bundle"]],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.stdout.splitlines()[-1] == "3 []", done.stdout + done.stderr  # 3: keys not pinned


def test_main_in_process(capsys, tmp_path, files):
    assert verifier.main(["--help"]) == 0
    assert "utilisation : " in capsys.readouterr().out
    assert verifier.main([files["bundle"], "--log-key", files["key"], "--tsa-ca", files["ca"]]) == 0
    assert capsys.readouterr().out.endswith("Preuve valide.\n")
    assert verifier.main([files["bundle"]]) == 3
    assert verifier.main([]) == 2
    assert "erreur : un seul fichier de preuve est attendu" in capsys.readouterr().err


def test_format_fact():
    moment = dt.datetime(2026, 12, 2, 6, 0, 0, 123000, tzinfo=dt.UTC)
    assert verifier.format_fact(moment) == (
        "2026-12-02 06:00:00.123 UTC, soit le 02/12/2026 à 07:00:00 heure de Paris"
    )
    assert verifier.format_fact(12) == "12"
