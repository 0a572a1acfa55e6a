"""RFC 3161 client: one code path for the embedded TSA and an external (qualified) one.

`timestamp_digest()` builds a request (random 64-bit nonce, certReq), sends it — in-process
to preuves/tsa.py when TSA_URL is empty, over HTTP otherwise —, verifies the reply and only
then stores it as a TimestampToken. `verify_reply()` is the one verification of every token
the platform receives (the PDF time-stamper calls it too): the certificate set put in DER
order first (OpenSSL's TSA, among others, writes its own certificate first), then
rfc3161-client (status, CMS signature, chain to the configured CA, critical `timeStamping`
extended key usage, imprint, nonce, policy) and the standalone verifier's
`verify_timestamp` (digest and signature algorithms, ESS signingCertificate, chain at
genTime), so that no receipt carries a token `verifier.py` would refuse. A reply that fails
any check is never stored: the caller gets an ApplicationError naming the fault in French.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import logging
import secrets
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import rfc3161_client
from asn1crypto import algos, tsp
from cryptography import x509
from django.conf import settings
from django.db.models import Model
from django.utils import timezone

from config.errors import ApplicationError

from . import keys, verifier
from . import tsa as embedded_tsa
from .models import TimestampToken

logger = logging.getLogger(__name__)
QUERY_TYPE = "application/timestamp-query"
REPLY_TYPE = "application/timestamp-reply"
HASHES = {"sha256": hashlib.sha256, "sha384": hashlib.sha384, "sha512": hashlib.sha512}


class TimestampError(ApplicationError):
    def __init__(self, message: str) -> None:
        super().__init__(message, code="timestamp", status=502)


def ca_certificates() -> list[x509.Certificate]:
    """The certificates a token must chain to: the local authority for the embedded TSA,
    TSA_CA_BUNDLE for an external one. Also what GET /preuves/tsa/ca.pem publishes."""
    if settings.TSA_URL:
        if not settings.TSA_CA_BUNDLE:
            raise TimestampError(
                "TSA_CA_BUNDLE n'est pas renseigné : impossible de vérifier les jetons de l'autorité "
                "d'horodatage externe."
            )
        return x509.load_pem_x509_certificates(Path(settings.TSA_CA_BUNDLE).read_bytes())
    return [keys.material().ca_cert]


def ca_pem() -> str:
    from cryptography.hazmat.primitives.serialization import Encoding

    return "".join(cert.public_bytes(Encoding.PEM).decode() for cert in ca_certificates())


def build_query(hashed_message: bytes, algorithm: str = "sha256") -> tuple[bytes, int]:
    nonce = secrets.randbits(64)
    request = tsp.TimeStampReq(
        {
            "version": "v1",
            "message_imprint": {
                "hash_algorithm": algos.DigestAlgorithm({"algorithm": algorithm}),
                "hashed_message": hashed_message,
            },
            "nonce": nonce,
            "cert_req": True,
        }
    )
    return request.dump(), nonce


def exchange(query: bytes) -> bytes:
    """Send a DER query to the configured authority and return its DER reply, unverified."""
    if not settings.TSA_URL:
        return embedded_tsa.respond(query)
    request = urllib.request.Request(  # noqa: S310 (the URL is the operator's setting)
        settings.TSA_URL, data=query, method="POST", headers={"Content-Type": QUERY_TYPE}
    )
    if settings.TSA_USERNAME:
        credentials = f"{settings.TSA_USERNAME}:{settings.TSA_PASSWORD}".encode()
        request.add_header("Authorization", "Basic " + base64.b64encode(credentials).decode())
    try:
        with urllib.request.urlopen(request, timeout=settings.TSA_TIMEOUT) as response:  # noqa: S310
            return response.read(1024 * 1024)
    except urllib.error.HTTPError as exc:
        raise TimestampError(f"l'autorité d'horodatage a répondu HTTP {exc.code} ({exc.reason})") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TimestampError(f"l'autorité d'horodatage ne répond pas : {reason}") from None


HASH_OIDS = {
    "sha256": "2.16.840.1.101.3.4.2.1",
    "sha384": "2.16.840.1.101.3.4.2.2",
    "sha512": "2.16.840.1.101.3.4.2.3",
}
# A token dated further than this from our own clock is refused: a TSA with a wrong clock
# would date deposits wrongly, and the deadline is judged on the server's time.
MAX_CLOCK_SKEW = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class VerifiedReply:
    """A reply that passed every check: its DER as stored (certificates in DER order), what
    rfc3161-client and verifier.py each read of it."""

    reply: bytes
    response: rfc3161_client.TimeStampResponse
    info: verifier.TimestampInfo


def _tlv(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, start of the contents, end of the element) of the DER element at `pos`."""
    if pos + 2 > end or data[pos] & 0x1F == 0x1F:
        raise ValueError("not a DER element")
    first, start = data[pos + 1], pos + 2
    if first & 0x80:
        count = first & 0x7F
        if not 1 <= count <= 4 or start + count > end:
            raise ValueError("bad DER length")
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    else:
        length = first
    if start + length > end:
        raise ValueError("DER element longer than its parent")
    return data[pos], start, start + length


def _children(data: bytes, start: int, end: int) -> list[tuple[int, int, int, int]]:
    """(tag, position, contents start, end) of each element between start and end."""
    children, pos = [], start
    while pos < end:
        tag, contents, stop = _tlv(data, pos, end)
        children.append((tag, pos, contents, stop))
        pos = stop
    return children


def normalise_certificate_set(reply: bytes) -> bytes:
    """`reply` with the certificates (and CRLs) of its SignedData in DER order.

    CMS lets a signer write these SETs in any order, and OpenSSL writes the signer's own
    certificate first; rfc3161-client parses them as strict DER and refuses any other order.
    The signature covers neither set (only the signed attributes, which must be DER, and
    through them the TSTInfo), so sorting them changes no signed byte: the token stays the
    authority's, and every parser, strict or not, reads the stored copy. Anything that does
    not have the shape of a TimeStampResp is returned unchanged, for the checks to name."""
    data = bytearray(reply)
    try:
        _, start, end = _tlv(data, 0, len(data))
        response = _children(data, start, end)
        if len(response) < 2 or response[1][0] != 0x30:
            return reply
        _, _, start, end = response[1]  # timeStampToken: ContentInfo
        content_info = _children(data, start, end)
        if len(content_info) != 2 or content_info[1][0] != 0xA0:
            return reply
        _, _, start, end = content_info[1]
        (tag, _, start, end), *rest = _children(data, start, end)
        if tag != 0x30 or rest:
            return reply
        for tag, _, first, last in _children(data, start, end)[3:]:  # after version, digests, content
            if tag in (0xA0, 0xA1):  # certificates [0], crls [1]: SET OF, implicitly tagged
                items = sorted(bytes(data[pos:stop]) for _, pos, _, stop in _children(data, first, last))
                data[first:last] = b"".join(items)
    except ValueError:
        return reply
    return bytes(data)


def _unreadable(reply: bytes) -> TimestampError:
    """Why rfc3161-client could not read a reply, in the verifier's words when it has some."""
    message = "réponse d'horodatage illisible (ce n'est pas une TimeStampResp DER)"
    try:
        verifier.verify_timestamp(reply, hashed_message=None, ca_certs=ca_certificates())
    except verifier.VerificationError as exc:
        return TimestampError(f"{message} : {exc}")
    # Well formed for the verifier, but not strict DER where rfc3161-client needs it.
    return TimestampError(f"{message} : son encodage n'est pas du DER strict")


def verify_reply(
    reply: bytes, *, hashed_message: bytes, nonce: int | None, algorithm: str = "sha256"
) -> VerifiedReply:
    """Decode and verify a reply, the same way for every token the platform receives.

    Two independent readings must both accept it: rfc3161-client (OpenSSL's PKCS#7
    verification, chain, critical EKU, nonce, policy, imprint) and `verifier.verify_timestamp`,
    the very code of the standalone verifier a bidder runs on a receipt (digest algorithms,
    ESS signingCertificate binding, chain at genTime…). A token the verifier would call
    invalid is therefore never stored nor acknowledged."""
    reply = normalise_certificate_set(reply)
    try:
        response = rfc3161_client.decode_timestamp_response(reply)
    except ValueError:
        raise _unreadable(reply) from None
    if response.status != rfc3161_client.PKIStatus.GRANTED:
        detail = " ".join(response.status_string) or "sans motif"
        if response.status == rfc3161_client.PKIStatus.GRANTED_WITH_MODS:
            detail = f"jeton accordé avec modifications, que la plateforme n'accepte pas ({detail})"
        raise TimestampError(f"l'autorité d'horodatage a refusé la requête : {detail}")
    info = response.tst_info
    # The checks a person can act on come first, in French; the library then checks them
    # again, with the signature, the chain and the extended key usage.
    if nonce is not None and info.nonce != nonce:
        raise TimestampError(
            "jeton refusé : son nonce ne correspond pas à la requête (réponse rejouée ou mélangée)"
        )
    if settings.TSA_POLICY_OID and info.policy.dotted_string != settings.TSA_POLICY_OID:
        raise TimestampError(
            f"jeton refusé : politique {info.policy.dotted_string}, la plateforme attend "
            f"{settings.TSA_POLICY_OID} (réglage TSA_POLICY_OID)"
        )
    if (
        info.message_imprint.hash_algorithm.dotted_string != HASH_OIDS[algorithm]
        or info.message_imprint.message != hashed_message
    ):
        raise TimestampError("jeton refusé : il horodate une autre empreinte que celle demandée")
    gen_time = info.gen_time if info.gen_time.tzinfo else info.gen_time.replace(tzinfo=dt.UTC)
    if abs(gen_time - timezone.now()) > MAX_CLOCK_SKEW:
        raise TimestampError(
            f"jeton refusé : l'autorité le date du {gen_time:%d/%m/%Y %H:%M:%S} UTC, à plus de "
            f"{MAX_CLOCK_SKEW.seconds // 60} minutes de l'horloge de la plateforme"
        )
    anchors = ca_certificates()
    try:
        checked = verifier.verify_timestamp(reply, hashed_message=hashed_message, ca_certs=anchors)
    except verifier.VerificationError as exc:
        raise TimestampError(f"jeton de l'autorité d'horodatage refusé : {exc}") from None
    if (checked.serial_number, checked.nonce, checked.policy) != (
        info.serial_number,
        info.nonce,
        info.policy.dotted_string,
    ):
        raise TimestampError("jeton refusé : ses deux lectures (numéro de série, nonce, politique) divergent")
    builder = rfc3161_client.VerifierBuilder()
    for certificate in anchors:
        builder = builder.add_root_certificate(certificate)
    if nonce is not None:
        builder = builder.nonce(nonce)
    if settings.TSA_POLICY_OID:
        builder = builder.policy_id(x509.ObjectIdentifier(settings.TSA_POLICY_OID))
    try:
        builder.build().verify(response, hashed_message)
    except rfc3161_client.VerificationError as exc:
        logger.warning("Jeton d'horodatage refusé par rfc3161-client : %s", exc)
        raise TimestampError(
            "jeton refusé : sa signature, son certificat (usage « timeStamping ») ou sa chaîne jusqu'à "
            "l'autorité de confiance ne se vérifie pas (avec une autorité externe, TSA_CA_BUNDLE doit "
            "contenir sa racine)"
        ) from None
    return VerifiedReply(reply, response, checked)


def timestamp_digest(
    hashed_message: bytes,
    *,
    purpose: str,
    algorithm: str = "sha256",
    subject: Model | None = None,
    subject_type: str = "",
    subject_id: str = "",
) -> TimestampToken:
    """Obtain, verify and store a token over `hashed_message` (already a digest)."""
    if algorithm not in HASHES or len(hashed_message) != HASHES[algorithm]().digest_size:
        raise ApplicationError(f"empreinte {algorithm} invalide", code="timestamp")
    query, nonce = build_query(hashed_message, algorithm)
    reply = exchange(query)
    verified = verify_reply(reply, hashed_message=hashed_message, nonce=nonce, algorithm=algorithm)
    info = verified.response.tst_info
    if subject is not None:
        subject_type = f"{subject._meta.app_label}.{subject._meta.model_name}"
        subject_id = str(subject.pk)
    return TimestampToken.objects.create(
        created_at=timezone.now(),
        purpose=purpose,
        subject_type=subject_type,
        subject_id=subject_id,
        hash_algorithm=algorithm,
        hashed_message=hashed_message.hex(),
        response=verified.reply,
        response_sha256=hashlib.sha256(verified.reply).hexdigest(),
        gen_time=verified.info.gen_time,
        serial_number=str(info.serial_number),
        tsa_name=verified.info.tsa_name,
        policy_oid=info.policy.dotted_string,
    )


def timestamp_data(data: bytes, *, purpose: str, **subject) -> TimestampToken:
    return timestamp_digest(hashlib.sha256(data).digest(), purpose=purpose, **subject)
