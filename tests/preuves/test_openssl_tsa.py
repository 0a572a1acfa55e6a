"""The platform against a time-stamping authority it did not write: OpenSSL's own
(`openssl ts -reply`), behind a small HTTP handler on 127.0.0.1, with one configuration per
variation a real (qualified) TSA may use.

Every valid token must be accepted whatever its certificates and their order, by the
platform's client (TSA_URL, TSA_CA_BUNDLE), by the PDF time-stamper and by the standalone
`verifier.py` alike; every fault must be refused by all of them, before anything is stored.
The test authorities are generated here, once per module, into a temporary folder.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import http.server
import shutil
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from asn1crypto import cms, tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from preuves import timestamps, verifier
from preuves.models import TimestampToken
from tests.offres.conftest import bidder, deposit_setup, published  # noqa: F401 (fixtures)

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="needs Debian's package openssl")

POLICY = "1.3.6.1.4.1.99999.3161.1"
OTHER_POLICY = "1.3.6.1.4.1.99999.3161.2"
DIGEST = hashlib.sha256(b"liste des fichiers du pli").digest()
DER = serialization.Encoding.DER
PEM = serialization.Encoding.PEM


# --- Test authorities ----------------------------------------------------------------------


@dataclass
class Identity:
    key: object
    cert: x509.Certificate

    def pem(self) -> bytes:
        return self.cert.public_bytes(PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _name(common_name: str, *, long: bool = False) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if long:
        # A TSA's certificate is usually longer than its CA's: OpenSSL writes it first, and
        # the set of certificates is then out of DER order.
        parts = [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Prestataire de services de confiance d'essai"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Service d'horodatage qualifié"),
            *parts,
        ]
    return x509.Name(parts)


def _issue(
    subject: str,
    key,
    issuer: Identity | None,
    *,
    ca: bool,
    eku: str | None = "critical",
    long: bool = False,
) -> Identity:
    now = dt.datetime.now(dt.UTC)
    name = _name(subject, long=long)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.cert.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), critical=False
        )
    usage = dict.fromkeys(
        ["content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
         "encipher_only", "decipher_only", "crl_sign", "key_cert_sign", "digital_signature"],
        False,
    )  # fmt: skip
    if ca:
        usage.update(key_cert_sign=True, crl_sign=True)
    else:
        usage.update(digital_signature=True)
        if eku is not None:
            builder = builder.add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=eku == "critical"
            )
    builder = builder.add_extension(x509.KeyUsage(**usage), critical=True)
    signing_key = issuer.key if issuer else key
    return Identity(key, builder.sign(signing_key, hashes.SHA256()))


def p256():
    return ec.generate_private_key(ec.SECP256R1())


@dataclass
class Pki:
    folder: Path
    root: Identity
    intermediate: Identity
    other_root: Identity
    signers: dict[str, Identity] = field(default_factory=dict)

    def write(self, name: str, *identities: Identity) -> Path:
        path = self.folder / f"{name}.pem"
        path.write_bytes(b"".join(identity.pem() for identity in identities))
        return path


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    folder = tmp_path_factory.mktemp("openssl-tsa")
    root = _issue("Racine d'essai", p256(), None, ca=True)
    intermediate = _issue("Intermédiaire d'essai", p256(), root, ca=True)
    other_root = _issue("Racine inconnue", p256(), None, ca=True)
    tsa_key = p256()
    result = Pki(folder, root, intermediate, other_root)
    result.signers = {
        "direct": _issue("Horodatage direct", tsa_key, root, ca=False, long=True),
        "chained": _issue("Horodatage sous intermédiaire", p256(), intermediate, ca=False, long=True),
        "rsa": _issue("Horodatage RSA", rsa.generate_private_key(65537, 2048), root, ca=False, long=True),
        "p384": _issue(
            "Horodatage P-384", ec.generate_private_key(ec.SECP384R1()), root, ca=False, long=True
        ),
        "untrusted": _issue("Horodatage inconnu", p256(), other_root, ca=False, long=True),
        # The same key as "direct": a token signed by it is re-signed with another certificate.
        "eku_not_critical": _issue("Horodatage EKU non critique", tsa_key, root, ca=False, eku="optional"),
        "no_eku": _issue("Horodatage sans EKU", tsa_key, root, ca=False, eku=None),
    }
    for name, identity in result.signers.items():
        (folder / f"{name}.key").write_bytes(identity.key_pem())
        result.write(name, identity)
    result.write("root", root)
    result.write("intermediate", intermediate)
    result.write("intermediate-root", intermediate, root)
    result.write("root-intermediate", root, intermediate)
    result.write("bundle", root)
    result.write("bundle-with-intermediate", root, intermediate)
    return result


# --- OpenSSL's TSA behind HTTP -------------------------------------------------------------


@dataclass(frozen=True)
class Variation:
    signer: str = "direct"
    certs: str | None = None  # the PEM file whose certificates travel in the token
    digest: str = "sha256"
    accuracy: str | None = "secs:1, millisecs:500"
    precision: int = 0
    ess_alg: str = "sha256"
    ess_chain: bool = False
    policy: str = POLICY
    digests: str = "sha256, sha384, sha512"
    # A change made to OpenSSL's reply before it is served: a faulty authority.
    tamper: Callable[[bytes, Pki], bytes] | None = None


def _resign(reply: bytes, pki: Pki, *, certificate: Identity | None = None, ess: bool = True) -> bytes:
    """OpenSSL's token with other signed attributes, signed again by the same key: without the
    ESS signingCertificate attribute, or bound to another certificate of that key."""
    response = tsp.TimeStampResp.load(reply)
    signed = response["time_stamp_token"]["content"]
    signer = signed["signer_infos"][0]
    attributes = [
        attribute
        for attribute in signer["signed_attrs"]
        if attribute["type"].native not in ("signing_certificate", "signing_certificate_v2")
    ]
    sid = signer["sid"]
    certificates = signed["certificates"]
    key = pki.signers["direct"].key
    if certificate is not None:
        der = certificate.cert.public_bytes(DER)
        parsed = asn1_x509.Certificate.load(der)
        sid = cms.SignerIdentifier(
            name="issuer_and_serial_number",
            value={"issuer": parsed.issuer, "serial_number": parsed.serial_number},
        )
        certificates = [cms.CertificateChoices(name="certificate", value=parsed)]
        key = certificate.key
        if ess:
            attributes.append(
                cms.CMSAttribute(
                    {
                        "type": "signing_certificate_v2",
                        "values": [
                            {
                                "certs": [
                                    {
                                        "cert_hash": hashlib.sha256(der).digest(),
                                        "issuer_serial": {
                                            "issuer": [
                                                asn1_x509.GeneralName(
                                                    name="directory_name", value=parsed.issuer
                                                )
                                            ],
                                            "serial_number": parsed.serial_number,
                                        },
                                    }
                                ]
                            }
                        ],
                    }
                )
            )
    signed_attrs = cms.CMSAttributes(attributes)
    signature = key.sign(signed_attrs.dump(), ec.ECDSA(hashes.SHA256()))
    new_signer = cms.SignerInfo(
        {
            "version": signer["version"],
            "sid": sid,
            "digest_algorithm": {"algorithm": "sha256"},
            "signed_attrs": signed_attrs,
            "signature_algorithm": {"algorithm": "sha256_ecdsa"},
            "signature": signature,
        }
    )
    new_signed = cms.SignedData(
        {
            "version": signed["version"],
            "digest_algorithms": signed["digest_algorithms"],
            "encap_content_info": signed["encap_content_info"],
            "certificates": certificates,
            "signer_infos": [new_signer],
        }
    )
    token = cms.ContentInfo({"content_type": "signed_data", "content": new_signed})
    return tsp.TimeStampResp({"status": response["status"], "time_stamp_token": token}).dump()


_earlier: dict[str, bytes] = {}


def _replayed(reply: bytes, pki: Pki) -> bytes:
    """A genuine token for the same digest, but the authority's answer to an earlier query:
    another nonce. Always the same one, as an attacker replaying a recorded reply would."""
    if "reply" not in _earlier:
        earlier, _nonce = timestamps.build_query(DIGEST)
        _earlier["reply"] = openssl_reply(pki, "replayed-nonce", earlier)
    return _earlier["reply"]


VALID = {
    "signer-only": Variation(),
    "ca-in-token": Variation(certs="root"),  # OpenSSL's manual: certs = cacert.pem
    "intermediate-and-root": Variation(signer="chained", certs="intermediate-root"),
    "root-then-intermediate": Variation(signer="chained", certs="root-intermediate"),
    "intermediate-without-root": Variation(signer="chained", certs="intermediate"),
    "intermediate-not-sent": Variation(signer="chained"),
    "rsa-sha384": Variation(signer="rsa", certs="root", digest="sha384"),
    "sha512": Variation(certs="root", digest="sha512"),
    "ecdsa-p384": Variation(signer="p384", certs="root", digest="sha384"),
    "no-accuracy": Variation(certs="root", accuracy=None),
    "ess-cert-id-v1": Variation(certs="root", ess_alg="sha1"),
    "ess-cert-id-v1-chain": Variation(
        signer="chained", certs="intermediate-root", ess_alg="sha1", ess_chain=True
    ),
    "ess-cert-id-v2-chain": Variation(signer="chained", certs="intermediate", ess_chain=True),
    "milliseconds": Variation(certs="root", precision=3, accuracy="millisecs:1"),
}
# What the platform's client answers, and what verifier.py answers when it has a say (the
# nonce and the policy bind a reply to the platform's request, which a verifier never sees).
REFUSED = {
    "other-policy": (Variation(policy=OTHER_POLICY, certs="root"), rf"politique {OTHER_POLICY}", None),
    "untrusted-ca": (
        Variation(signer="untrusted", certs="root"),
        "n'est émis par aucune des autorités de confiance",
        "n'est émis par aucune des autorités de confiance",
    ),
    "eku-not-critical": (
        Variation(
            certs="root",
            tamper=lambda reply, pki: _resign(reply, pki, certificate=pki.signers["eku_not_critical"]),
        ),
        r"n'est pas critique \(RFC 3161 §2.3\)",
        "n'est pas critique",
    ),
    "no-eku": (
        Variation(
            certs="root", tamper=lambda reply, pki: _resign(reply, pki, certificate=pki.signers["no_eku"])
        ),
        r"n'a pas d'usage étendu \(EKU\) timeStamping",
        "n'a pas d'usage étendu",
    ),
    "replayed-nonce": (Variation(certs="root", tamper=_replayed), "son nonce ne correspond pas", None),
    "rejection": (
        Variation(digests="sha512"),
        "a refusé la requête : Message digest algorithm is not supported",
        "a refusé la demande : statut 2 \\(rejection\\)",
    ),
    "sha1": (
        Variation(certs="root", digest="sha1"),
        "algorithme d'empreinte SHA-1 non accepté",
        "algorithme d'empreinte SHA-1 non accepté",
    ),
    "no-ess-signing-certificate": (
        Variation(certs="root", tamper=lambda reply, pki: _resign(reply, pki, ess=False)),
        "ni signingCertificateV2 ni signingCertificate",
        "ni signingCertificateV2 ni signingCertificate",
    ),
}
VARIATIONS = {**VALID, **{name: refused[0] for name, refused in REFUSED.items()}}
BUNDLES = {"intermediate-not-sent": "bundle-with-intermediate"}


def openssl_config(pki: Pki, name: str, variation: Variation) -> Path:
    folder = pki.folder / name
    folder.mkdir()
    (folder / "serial").write_text("01\n")
    lines = [
        "[ tsa ]",
        "default_tsa = tsa_config",
        "[ tsa_config ]",
        f"dir = {folder}",
        "serial = $dir/serial",
        "crypto_device = builtin",
        f"signer_cert = {pki.folder / variation.signer}.pem",
        f"signer_key = {pki.folder / variation.signer}.key",
        f"signer_digest = {variation.digest}",
        f"default_policy = {variation.policy}",
        f"digests = {variation.digests}",
        f"clock_precision_digits = {variation.precision}",
        "ordering = no",
        "tsa_name = yes",
        f"ess_cert_id_chain = {'yes' if variation.ess_chain else 'no'}",
        f"ess_cert_id_alg = {variation.ess_alg}",
    ]
    if variation.certs:
        lines.append(f"certs = {pki.folder / variation.certs}.pem")
    if variation.accuracy:
        lines.append(f"accuracy = {variation.accuracy}")
    path = folder / "openssl.cnf"
    path.write_text("\n".join(lines) + "\n")
    return path


def openssl_reply(pki: Pki, name: str, query: bytes) -> bytes:
    folder = pki.folder / name
    (folder / "query.tsq").write_bytes(query)
    result = subprocess.run(
        [OPENSSL, "ts", "-reply", "-config", folder / "openssl.cnf", "-queryfile", folder / "query.tsq",
         "-out", folder / "reply.tsr"],
        capture_output=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr.decode()
    return (folder / "reply.tsr").read_bytes()


@dataclass
class Authority:
    url: str
    pki: Pki
    # One openssl at a time: the handler's thread and the test's share the serial files.
    lock: threading.Lock = field(default_factory=threading.Lock)

    def use(self, settings, name: str) -> None:
        """Point the platform at this variation, as an operator would with its settings."""
        settings.TSA_URL = f"{self.url}/{name}"
        settings.TSA_CA_BUNDLE = str(self.bundle(name))
        settings.TSA_POLICY_OID = POLICY

    def bundle(self, name: str) -> Path:
        return self.pki.folder / f"{BUNDLES.get(name, 'bundle')}.pem"

    def anchors(self, name: str) -> list[x509.Certificate]:
        return x509.load_pem_x509_certificates(self.bundle(name).read_bytes())

    def raw_reply(self, name: str, hashed_message: bytes = DIGEST) -> bytes:
        """The reply to a fresh query, unverified, as verifier.py would be handed it."""
        query, _nonce = timestamps.build_query(hashed_message)
        return self.answer(name, query)

    def answer(self, name: str, query: bytes) -> bytes:
        with self.lock:
            reply = openssl_reply(self.pki, name, query)
            variation = VARIATIONS[name]
            return variation.tamper(reply, self.pki) if variation.tamper else reply


@pytest.fixture(scope="module")
def authority(pki):
    for name, variation in VARIATIONS.items():
        openssl_config(pki, name, variation)
    holder: dict[str, Authority] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            name = self.path.strip("/")
            query = self.rfile.read(int(self.headers["Content-Length"]))
            if name not in VARIATIONS or self.headers["Content-Type"] != timestamps.QUERY_TYPE:
                self.send_error(404)
                return
            body = holder["authority"].answer(name, query)
            self.send_response(200)
            self.send_header("Content-Type", timestamps.REPLY_TYPE)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    holder["authority"] = Authority(f"http://127.0.0.1:{server.server_port}", pki)
    try:
        yield holder["authority"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def certificate_set(reply: bytes) -> list[bytes]:
    """The certificates of a token, in the order the authority wrote them."""
    token = tsp.TimeStampResp.load(reply)["time_stamp_token"]
    certificates = token["content"]["certificates"]
    return [certificate.dump() for certificate in certificates] if certificates else []


def openssl_verify(tmp_path: Path, reply: bytes, bundle: Path, hashed_message: bytes = DIGEST) -> None:
    (tmp_path / "stored.tsr").write_bytes(reply)
    result = subprocess.run(
        [OPENSSL, "ts", "-verify", "-digest", hashed_message.hex(), "-in", tmp_path / "stored.tsr",
         "-CAfile", bundle],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


# --- Every valid token is accepted ---------------------------------------------------------


def test_openssl_writes_the_signer_first_and_normalising_only_sorts_the_certificates(authority):
    """The case the platform used to refuse: the set of certificates is not in DER order.
    Normalised, the same certificates come in DER order and no other byte moves: the signed
    attributes, the signature and the TSTInfo are the authority's."""
    for name in ("ca-in-token", "intermediate-and-root", "root-then-intermediate", "rsa-sha384"):
        reply = authority.raw_reply(name)
        ders = certificate_set(reply)
        assert len(ders) >= 2
        assert ders != sorted(ders), name
        normalised = timestamps.normalise_certificate_set(reply)
        assert certificate_set(normalised) == sorted(ders)
        assert len(normalised) == len(reply)
        before, after = (
            tsp.TimeStampResp.load(r)["time_stamp_token"]["content"] for r in (reply, normalised)
        )
        for part in ("version", "digest_algorithms", "encap_content_info", "signer_infos"):
            assert before[part].dump() == after[part].dump()
        changed = [i for i, (a, b) in enumerate(zip(reply, normalised, strict=True)) if a != b]
        start = reply.index(ders[0])
        assert start <= changed[0]
        assert changed[-1] < start + sum(map(len, ders))


@pytest.mark.parametrize("name", VALID)
def test_valid_tokens_are_accepted_by_the_client_verifier_and_openssl(
    name, authority, settings, db, tmp_path
):
    authority.use(settings, name)
    token = timestamps.timestamp_digest(DIGEST, purpose="test")
    stored = bytes(TimestampToken.objects.get(pk=token.pk).response)
    assert token.policy_oid == POLICY
    assert token.hashed_message == DIGEST.hex()
    signer = authority.pki.signers[VARIATIONS[name].signer]
    assert token.tsa_name == signer.cert.subject.rfc4514_string()
    # The stored token is the authority's, its certificates only put in DER order.
    assert sorted(certificate_set(stored)) == certificate_set(stored)
    info = verifier.verify_timestamp(stored, hashed_message=DIGEST, ca_certs=authority.anchors(name))
    assert info.signer_certificate == signer.cert
    assert info.gen_time == token.gen_time
    openssl_verify(tmp_path, stored, authority.bundle(name))


def test_millisecond_times_are_kept(authority, settings, db):
    authority.use(settings, "milliseconds")
    tokens = [timestamps.timestamp_digest(DIGEST, purpose="test") for _ in range(3)]
    info = verifier.verify_timestamp(
        bytes(tokens[0].response), hashed_message=DIGEST, ca_certs=authority.anchors("milliseconds")
    )
    assert info.accuracy == "± 1 ms"
    assert info.gen_time == tokens[0].gen_time
    # Three tokens within the same second would all end in .000 if the fraction were dropped.
    assert any(token.gen_time.microsecond for token in tokens)


def test_valid_raw_replies_are_accepted_by_the_verifier_as_sent(authority):
    """verifier.py, handed the authority's reply as is (signer first), agrees with the client."""
    for name in VALID:
        reply = authority.raw_reply(name)
        info = verifier.verify_timestamp(reply, hashed_message=DIGEST, ca_certs=authority.anchors(name))
        assert info.policy == POLICY


# --- What must stay refused ----------------------------------------------------------------


@pytest.mark.parametrize("name", REFUSED)
def test_faulty_tokens_are_refused_by_the_client_and_the_verifier(name, authority, settings, db):
    _variation, client_message, verifier_message = REFUSED[name]
    authority.use(settings, name)
    with pytest.raises(timestamps.TimestampError, match=client_message):
        timestamps.timestamp_digest(DIGEST, purpose="test")
    assert not TimestampToken.objects.exists()
    reply = authority.raw_reply(name)
    if verifier_message is None:
        # Valid on its own: only the platform, which knows its request, can refuse it.
        verifier.verify_timestamp(reply, hashed_message=DIGEST, ca_certs=authority.anchors(name))
    else:
        with pytest.raises(verifier.VerificationError, match=verifier_message):
            verifier.verify_timestamp(reply, hashed_message=DIGEST, ca_certs=authority.anchors(name))


@pytest.mark.parametrize(
    ("bundle", "message"),
    [
        # The TSA sends only its own certificate: the intermediate must be in the bundle.
        ("root", "n'est émis par aucune des autorités de confiance fournies"),
        # The intermediate alone is not enough: OpenSSL's chain must end at the root.
        ("intermediate", "TSA_CA_BUNDLE doit contenir sa racine"),
    ],
)
def test_the_bundle_must_hold_the_root_and_the_intermediates_not_sent(
    bundle, message, authority, settings, db
):
    authority.use(settings, "intermediate-not-sent")
    settings.TSA_CA_BUNDLE = str(authority.pki.folder / f"{bundle}.pem")
    with pytest.raises(timestamps.TimestampError, match=message):
        timestamps.timestamp_digest(DIGEST, purpose="test")
    assert not TimestampToken.objects.exists()


# --- The same verification for the PDF time-stamper and end to end ------------------------


def test_the_pdf_time_stamper_accepts_openssl_tokens_and_refuses_faulty_ones(authority, settings):
    from preuves import pdf
    from tests.preuves.test_pdf import minutes

    authority.use(settings, "intermediate-and-root")
    [report] = pdf.validate(pdf.seal(minutes(bidders=1)))
    assert report.timestamp_valid
    assert report.timestamp_authority == "Horodatage sous intermédiaire"
    authority.use(settings, "no-ess-signing-certificate")
    with pytest.raises(timestamps.TimestampError, match="ni signingCertificateV2 ni signingCertificate"):
        pdf.seal(minutes(bidders=1))


def test_a_checkpoint_timestamped_by_openssl_verifies_in_its_bundle(authority, settings, db, tmp_path):
    from preuves import keys, log

    authority.use(settings, "ca-in-token")
    log.append("test", {"texte": "pli déposé"})
    point = log.checkpoint()
    bundle = log.bundle(0, point=point)
    report = verifier.verify_bundle(
        bundle, log_key=keys.material().log_key.public_key(), tsa_ca=authority.anchors("ca-in-token")
    )
    assert report.ok, report.first_failure()
    openssl_verify(
        tmp_path, bytes(point.timestamp.response), authority.bundle("ca-in-token"),
        hashlib.sha256(point.note.encode()).digest(),
    )  # fmt: skip


@pytest.fixture
def external_authority(authority, settings):
    """The platform pointed at OpenSSL's TSA before anything is published or deposited."""
    authority.use(settings, "intermediate-and-root")
    return authority


def test_a_deposit_timestamped_by_openssl_gets_a_receipt_whose_proofs_verify(
    external_authority,
    deposit_setup,  # noqa: F811 (the fixture imported above)
    tmp_path,
):
    """The attack's scenario end to end: a deposit validated through the API while the
    authority sends its chain signer first. Its bundle passes verifier.py (run as a script,
    with the CA the platform publishes) and its token `openssl ts -verify`."""
    from preuves import pdf
    from tests.offres import evidence
    from tests.offres.test_deposit_api import call, get_bytes, upload_all

    token, base, file, ciphertext = deposit_setup
    upload_all(token, base, file, ciphertext)
    status, receipt = call(f"{base}/valider", token, "POST", b"{}")
    assert status == 200, receipt
    root = base.split("/api/")[0]
    bundle = evidence.assert_proofs_verify(
        lambda path: get_bytes(root + path, token), receipt["id"], receipt["digest"], tmp_path
    )
    assert bundle["tsa_ca"] == external_authority.bundle("intermediate-and-root").read_text()
    stored = TimestampToken.objects.get(purpose="deposit")
    assert stored.tsa_name == external_authority.pki.signers["chained"].cert.subject.rfc4514_string()
    [seal] = pdf.validate(get_bytes(f"{base}/accuse.pdf", token))
    assert seal.timestamp_valid
