"""The embedded RFC 3161 time-stamping authority.

`respond(query)` takes a DER TimeStampReq and always returns a DER TimeStampResp: a token
(status granted) or a rejection whose statusString says in French what was wrong and whose
failInfo carries the RFC's code. It is what POST /preuves/tsa serves and what the platform's
own client calls in-process when no external TSA is configured (preuves/timestamps.py), so
`openssl ts`, pyHanko and the platform meet the same authority.

Tokens: SHA-256/384/512 imprints; the nonce echoed; the TSA certificate included when
certReq is set; genTime in UTC to the millisecond; serial numbers made of the issuing
millisecond and 64 random bits, so that processes never need to agree on a counter; the
policy of TSA_POLICY_OID; ESSCertIDv2 (RFC 5816) binding the signer certificate.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import secrets

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings

from . import keys

MAX_QUERY_BYTES = 64 * 1024
DIGEST_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}
ACCURACY_SECONDS = 1


class RejectionError(Exception):
    """A query the authority will not stamp: `fail_info` is RFC 3161's PKIFailureInfo name."""

    def __init__(self, message: str, fail_info: str) -> None:
        super().__init__(message)
        self.message = message
        self.fail_info = fail_info


def answer(query: bytes, *, now: dt.datetime | None = None) -> tuple[bytes, bool]:
    """The DER reply to a query, and whether it grants a token."""
    try:
        request = parse_query(query)
    except RejectionError as rejection:
        return rejection_response(rejection).dump(), False
    return grant(request, now=now).dump(), True


def respond(query: bytes, *, now: dt.datetime | None = None) -> bytes:
    return answer(query, now=now)[0]


def parse_query(query: bytes) -> tsp.TimeStampReq:
    if not query:
        raise RejectionError("requête d'horodatage vide", "bad_data_format")
    if len(query) > MAX_QUERY_BYTES:
        raise RejectionError(
            f"requête d'horodatage trop grande ({len(query)} octets, {MAX_QUERY_BYTES} au plus)",
            "bad_data_format",
        )
    try:
        request = tsp.TimeStampReq.load(query, strict=True)
        # asn1crypto parses lazily: touching every field is what validates the structure.
        request.native  # noqa: B018
    except Exception:  # noqa: BLE001 (asn1crypto raises many kinds on hostile DER; all mean the same)
        raise RejectionError(
            "requête d'horodatage illisible : ce n'est pas une TimeStampReq (RFC 3161) en DER",
            "bad_data_format",
        ) from None
    if request["version"].native != "v1":
        raise RejectionError(
            f"version de requête {request['version'].native} non prise en charge (v1 attendue)",
            "bad_request",
        )
    imprint = request["message_imprint"]
    algorithm = imprint["hash_algorithm"]["algorithm"].native
    if algorithm not in DIGEST_SIZES:
        raise RejectionError(
            f"algorithme de hachage non pris en charge : {algorithm} (acceptés : SHA-256, SHA-384, SHA-512)",
            "bad_alg",
        )
    length = len(imprint["hashed_message"].native)
    if length != DIGEST_SIZES[algorithm]:
        raise RejectionError(
            f"empreinte de {length} octets pour {algorithm}, {DIGEST_SIZES[algorithm]} attendus",
            "bad_data_format",
        )
    policy = request["req_policy"].native
    if policy is not None and policy != settings.TSA_POLICY_OID:
        raise RejectionError(
            f"politique d'horodatage {policy} non prise en charge (celle de cette autorité : "
            f"{settings.TSA_POLICY_OID})",
            "unaccepted_policy",
        )
    if request["extensions"].native:
        raise RejectionError("les extensions de requête ne sont pas prises en charge", "unaccepted_extension")
    return request


class RejectionResp(core.Sequence):
    """A TimeStampResp without its token: asn1crypto declares `timeStampToken` mandatory,
    where RFC 3161 makes it OPTIONAL and absent from every refusal."""

    _fields = [("status", tsp.PKIStatusInfo)]


def rejection_response(rejection: RejectionError) -> RejectionResp:
    return RejectionResp(
        {
            "status": tsp.PKIStatusInfo(
                {
                    "status": "rejection",
                    "status_string": [rejection.message],
                    "fail_info": tsp.PKIFailureInfo({rejection.fail_info}),
                }
            )
        }
    )


def new_serial(now: dt.datetime) -> int:
    return (int(now.timestamp() * 1000) << 64) | secrets.randbits(64)


@functools.cache
def _fixed_parts(certificate_der: bytes) -> tuple[bytes, bytes, bytes, int]:
    """DER of what every token repeats: the signer's subject and issuer names and the
    ESSCertIDv2 attribute. Rebuilding them from asn1crypto objects for each token costs
    thousands of re-encodings (30 ms a token); loaded from bytes, they are copied as is."""
    certificate = asn1_x509.Certificate.load(certificate_der)
    ess = cms.CMSAttribute(
        {
            "type": "signing_certificate_v2",
            "values": [
                {
                    # hashAlgorithm left out: SHA-256 is its DEFAULT, which DER omits.
                    "certs": [
                        {
                            "cert_hash": hashlib.sha256(certificate_der).digest(),
                            "issuer_serial": {
                                "issuer": [
                                    asn1_x509.GeneralName(name="directory_name", value=certificate.issuer)
                                ],
                                "serial_number": certificate.serial_number,
                            },
                        }
                    ]
                }
            ],
        }
    )
    return certificate.subject.dump(), certificate.issuer.dump(), ess.dump(), certificate.serial_number


def grant(request: tsp.TimeStampReq, *, now: dt.datetime | None = None) -> tsp.TimeStampResp:
    material = keys.material()
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    now = now.replace(microsecond=now.microsecond // 1000 * 1000)
    certificate_der = material.tsa_cert.public_bytes(serialization.Encoding.DER)
    subject, issuer, ess, serial = _fixed_parts(certificate_der)
    info = {
        "version": "v1",
        "policy": settings.TSA_POLICY_OID,
        "message_imprint": request["message_imprint"],
        "serial_number": new_serial(now),
        "gen_time": now,
        "accuracy": {"seconds": ACCURACY_SECONDS},
        "tsa": asn1_x509.GeneralName(name="directory_name", value=asn1_x509.Name.load(subject)),
    }
    if request["nonce"].native is not None:
        info["nonce"] = request["nonce"].native
    tst_info = tsp.TSTInfo(info).dump()
    signed_attrs = cms.CMSAttributes(
        [
            cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}),
            cms.CMSAttribute({"type": "signing_time", "values": [cms.Time({"utc_time": core.UTCTime(now)})]}),
            cms.CMSAttribute({"type": "message_digest", "values": [hashlib.sha256(tst_info).digest()]}),
            cms.CMSAttribute.load(ess),
        ]
    )
    signature = material.tsa_key.sign(signed_attrs.dump(), ec.ECDSA(hashes.SHA256()))
    signer_info = cms.SignerInfo(
        {
            "version": "v1",
            "sid": cms.SignerIdentifier(
                {
                    "issuer_and_serial_number": {
                        "issuer": asn1_x509.Name.load(issuer),
                        "serial_number": serial,
                    }
                }
            ),
            "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
            "signed_attrs": signed_attrs,
            "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
            "signature": signature,
        }
    )
    signed_data = {
        "version": "v3",
        "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
        "encap_content_info": {"content_type": "tst_info", "content": core.ParsableOctetString(tst_info)},
        "signer_infos": [signer_info],
    }
    if request["cert_req"].native:
        signed_data["certificates"] = [
            cms.CertificateChoices(name="certificate", value=asn1_x509.Certificate.load(certificate_der))
        ]
    token = cms.ContentInfo({"content_type": "signed_data", "content": cms.SignedData(signed_data)})
    return tsp.TimeStampResp({"status": {"status": "granted"}, "time_stamp_token": token})
