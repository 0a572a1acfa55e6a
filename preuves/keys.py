"""The platform's key material, generated on first use into PREUVES_KEY_DIR and reused.

- a local certification authority (ECDSA P-256, 20 years), which issues
- the embedded TSA's certificate (extended key usage `timeStamping`, critical, as RFC 3161
  §2.3 requires) and
- the PDF seal certificate (non-repudiation, document signing);
- the transparency log's Ed25519 key, which signs checkpoints;
- the witness key (Ed25519), with which this platform cosigns the checkpoints of other logs.

Several web and worker processes may start at once: generation runs under an exclusive
`flock` on the directory, and a process that waited finds the files and loads them, so
every process ends up with the same keys. Private keys are written 0600 in a 0700 folder.
A qualified seal certificate can replace the generated one (PDF_SEAL_*_FILE settings).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from django.conf import settings

CA_CERT, CA_KEY = "ca.pem", "ca.key"
TSA_CERT, TSA_KEY = "tsa.pem", "tsa.key"
SEAL_CERT, SEAL_KEY = "cachet.pem", "cachet.key"
LOG_KEY = "journal-transparence.key"
WITNESS_KEY = "temoin.key"
DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")  # id-kp-documentSigning, RFC 9336


@dataclass(frozen=True)
class KeyMaterial:
    ca_cert: x509.Certificate
    tsa_cert: x509.Certificate
    tsa_key: ec.EllipticCurvePrivateKey
    seal_cert: x509.Certificate
    seal_key: ec.EllipticCurvePrivateKey
    seal_chain: tuple[x509.Certificate, ...]
    log_key: ed25519.Ed25519PrivateKey
    # This platform's key as a witness of other logs (C2SP tlog-cosignature): distinct from
    # the log key, so that a cosignature can never be mistaken for a checkpoint signature.
    witness_key: ed25519.Ed25519PrivateKey

    @property
    def log_public_key(self) -> bytes:
        return self.log_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def log_public_key_pem(self) -> str:
        return (
            self.log_key.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode()
        )

    @property
    def log_key_fingerprint(self) -> str:
        return hashlib.sha256(self.log_public_key).hexdigest()

    @property
    def ca_pem(self) -> str:
        return self.ca_cert.public_bytes(serialization.Encoding.PEM).decode()


_cache: dict[str, KeyMaterial] = {}


def material() -> KeyMaterial:
    """The key material of the configured directory, created there if it is not yet."""
    folder = Path(settings.PREUVES_KEY_DIR)
    cached = _cache.get(str(folder))
    if cached is None:
        cached = _cache[str(folder)] = _load_or_create(folder)
    return cached


def _load_or_create(folder: Path) -> KeyMaterial:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    with open(folder / ".verrou", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (folder / CA_CERT).exists():
                _create_authority(folder)
            if not (folder / TSA_CERT).exists():
                _issue(folder, TSA_CERT, TSA_KEY, _tsa_extensions(), "horodatage")
            if not (folder / SEAL_CERT).exists():
                _issue(folder, SEAL_CERT, SEAL_KEY, _seal_extensions(), "cachet des documents")
            for name in (LOG_KEY, WITNESS_KEY):
                if not (folder / name).exists():
                    _write_key(folder / name, ed25519.Ed25519PrivateKey.generate())
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    ca_cert = _read_cert(folder / CA_CERT)
    seal_cert, seal_key, seal_chain = _seal(folder, ca_cert)
    return KeyMaterial(
        ca_cert=ca_cert,
        tsa_cert=_read_cert(folder / TSA_CERT),
        tsa_key=_read_key(folder / TSA_KEY),
        seal_cert=seal_cert,
        seal_key=seal_key,
        seal_chain=seal_chain,
        log_key=_read_key(folder / LOG_KEY),
        witness_key=_read_key(folder / WITNESS_KEY),
    )


def _seal(folder: Path, ca_cert: x509.Certificate):
    if settings.PDF_SEAL_CERT_FILE:
        chain = ()
        if settings.PDF_SEAL_CHAIN_FILE:
            chain = tuple(x509.load_pem_x509_certificates(Path(settings.PDF_SEAL_CHAIN_FILE).read_bytes()))
        return (
            _read_cert(Path(settings.PDF_SEAL_CERT_FILE)),
            _read_key(Path(settings.PDF_SEAL_KEY_FILE)),
            chain,
        )
    return _read_cert(folder / SEAL_CERT), _read_key(folder / SEAL_KEY), (ca_cert,)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, settings.PLATFORM_NAME),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _create_authority(folder: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    name = _name(f"{settings.PLATFORM_NAME} — autorité de certification de la plateforme")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=20 * 366))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_key(folder / CA_KEY, key)
    _write_cert(folder / CA_CERT, cert)


def _signing_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=True,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _tsa_extensions() -> list[tuple[x509.ExtensionType, bool]]:
    return [
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), True),
        (_signing_usage(), True),
    ]


def _seal_extensions() -> list[tuple[x509.ExtensionType, bool]]:
    return [(x509.ExtendedKeyUsage([DOCUMENT_SIGNING]), False), (_signing_usage(), True)]


def _issue(folder: Path, cert_file: str, key_file: str, extensions, role: str) -> None:
    ca_key = _read_key(folder / CA_KEY)
    ca_cert = _read_cert(folder / CA_CERT)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{settings.PLATFORM_NAME} — {role}"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=10 * 366))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    _write_key(folder / key_file, key)
    _write_cert(folder / cert_file, builder.sign(ca_key, hashes.SHA256()))


def _write_key(path: Path, key) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # Atomic, like the certificate: an interrupted generation leaves no half-written key, and
    # a key whose certificate is missing is simply generated again.
    temporary = path.with_name(path.name + ".tmp")
    temporary.unlink(missing_ok=True)
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(pem)
    temporary.replace(path)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    # Written last and atomically: its presence is what tells a process the pair is complete.
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    temporary.replace(path)


def _read_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _read_key(path: Path):
    return serialization.load_pem_private_key(path.read_bytes(), password=None)
