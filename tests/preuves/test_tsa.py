"""The embedded RFC 3161 authority, met the way outsiders meet it: `openssl ts` queries sent
over HTTP to POST /preuves/tsa, replies checked by `openssl ts -verify` against the CA that
GET /preuves/tsa/ca.pem publishes."""

import datetime as dt
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from asn1crypto import tsp

from preuves.tsa import RejectionResp

OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="needs Debian's package openssl")


def openssl(*args, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([OPENSSL, "ts", *args], cwd=cwd, capture_output=True, text=True, check=check)


def post(url: str, body: bytes, content_type: str = "application/timestamp-query") -> tuple[int, bytes, str]:
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(), response.headers["Content-Type"]
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers["Content-Type"]


@pytest.fixture
def tsa(live_server, tmp_path):
    """The live server's TSA URL, with its published CA saved as ca.pem in tmp_path."""
    with urllib.request.urlopen(live_server.url + "/preuves/tsa/ca.pem", timeout=30) as response:
        assert response.headers["Content-Type"] == "application/x-pem-file"
        (tmp_path / "ca.pem").write_bytes(response.read())
    return live_server.url + "/preuves/tsa"


def stamp(
    tsa: str, tmp_path: Path, *query_args: str, data: bytes = b"offre technique\n"
) -> tsp.TimeStampResp:
    (tmp_path / "F").write_bytes(data)
    openssl("-query", "-data", "F", *query_args, "-out", "q.tsq", cwd=tmp_path)
    status, body, content_type = post(tsa, (tmp_path / "q.tsq").read_bytes())
    assert status == 200, body
    assert content_type == "application/timestamp-reply"
    (tmp_path / "reply.tsr").write_bytes(body)
    return tsp.TimeStampResp.load(body)


def test_openssl_query_reply_verifies_and_one_changed_byte_fails(tsa, tmp_path):
    """The issue's acceptance test, command for command."""
    stamp(tsa, tmp_path, "-sha256", "-cert")
    ok = openssl("-verify", "-data", "F", "-in", "reply.tsr", "-CAfile", "ca.pem", cwd=tmp_path, check=False)
    assert ok.returncode == 0, ok.stderr
    assert "Verification: OK" in ok.stdout
    with_query = openssl(
        "-verify", "-queryfile", "q.tsq", "-in", "reply.tsr", "-CAfile", "ca.pem", cwd=tmp_path, check=False
    )
    assert with_query.returncode == 0, with_query.stderr  # nonce echoed, imprint and policy
    data = bytearray((tmp_path / "F").read_bytes())
    data[3] ^= 0x01
    (tmp_path / "F").write_bytes(bytes(data))
    bad = openssl("-verify", "-data", "F", "-in", "reply.tsr", "-CAfile", "ca.pem", cwd=tmp_path, check=False)
    assert bad.returncode != 0
    assert "message imprint mismatch" in bad.stderr


def test_a_tampered_reply_fails_openssl(tsa, tmp_path):
    reply = stamp(tsa, tmp_path, "-sha256", "-cert").dump()
    tampered = bytearray(reply)
    tampered[len(tampered) // 2] ^= 0x80
    (tmp_path / "reply.tsr").write_bytes(bytes(tampered))
    result = openssl(
        "-verify", "-data", "F", "-in", "reply.tsr", "-CAfile", "ca.pem", cwd=tmp_path, check=False
    )
    assert result.returncode != 0


def test_another_ca_does_not_verify(tsa, tmp_path):
    stamp(tsa, tmp_path, "-sha256", "-cert")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", "other.key", "-out", "other.pem", "-subj", "/CN=Autre autorite", "-days", "2"],
        cwd=tmp_path, capture_output=True, check=True,
    )  # fmt: skip
    result = openssl(
        "-verify", "-data", "F", "-in", "reply.tsr", "-CAfile", "other.pem", cwd=tmp_path, check=False
    )
    assert result.returncode != 0


@pytest.mark.parametrize(
    ("flag", "algorithm", "size"),
    [("-sha256", "sha256", 32), ("-sha384", "sha384", 48), ("-sha512", "sha512", 64)],
)
def test_supported_imprints(tsa, tmp_path, flag, algorithm, size):
    info = stamp(tsa, tmp_path, flag, "-cert")["time_stamp_token"]["content"]["encap_content_info"][
        "content"
    ].parsed
    assert info["message_imprint"]["hash_algorithm"]["algorithm"].native == algorithm
    assert len(info["message_imprint"]["hashed_message"].native) == size
    result = openssl(
        "-verify", "-data", "F", "-in", "reply.tsr", "-CAfile", "ca.pem", cwd=tmp_path, check=False
    )
    assert result.returncode == 0, result.stderr


def token_fields(reply: tsp.TimeStampResp):
    signed = reply["time_stamp_token"]["content"]
    return signed, signed["encap_content_info"]["content"].parsed


def test_token_fields(tsa, tmp_path, settings):
    reply = stamp(tsa, tmp_path, "-sha256", "-cert")
    signed, info = token_fields(reply)
    query = tsp.TimeStampReq.load((tmp_path / "q.tsq").read_bytes())
    assert info["nonce"].native == query["nonce"].native
    assert info["policy"].native == settings.TSA_POLICY_OID
    assert len(signed["certificates"]) == 1  # the TSA's certificate, as certReq asked
    eku = signed["certificates"][0].chosen.extended_key_usage_value
    assert eku.native == ["time_stamping"]
    assert "extended_key_usage" in signed["certificates"][0].chosen.critical_extensions
    gen_time = info["gen_time"].native
    assert abs(gen_time - dt.datetime.now(dt.UTC)) < dt.timedelta(seconds=30)
    assert gen_time.microsecond % 1000 == 0  # to the millisecond
    raw = info["gen_time"].contents.decode()
    assert raw.endswith("Z")


def test_no_certificate_and_no_nonce_unless_asked(tsa, tmp_path):
    signed, info = token_fields(stamp(tsa, tmp_path, "-sha256", "-no_nonce"))
    assert not signed["certificates"]
    assert info["nonce"].native is None


def test_serial_numbers_are_unique(tsa, tmp_path):
    serials = set()
    for i in range(25):
        _, info = token_fields(stamp(tsa, tmp_path, "-sha256", data=f"pli {i}".encode()))
        serials.add(info["serial_number"].native)
    assert len(serials) == 25


def rejection(body: bytes) -> tuple[str, str, set]:
    status = RejectionResp.load(body)["status"]
    return status["status"].native, " ".join(status["status_string"].native or []), status["fail_info"].native


@pytest.mark.parametrize(
    ("body", "message", "fail_info"),
    [
        (b"", "requête d'horodatage vide", "bad_data_format"),
        (b"ceci n'est pas une requete", "ce n'est pas une TimeStampReq", "bad_data_format"),
        (b"\x30\x82\x01", "ce n'est pas une TimeStampReq", "bad_data_format"),
        # Hostile DER on which asn1crypto raises AttributeError / IndexError, found in review.
        (
            bytes.fromhex(
                "30440201013031300d0609608648016503040201050004202d711642b726b04401627ca9fbac32f5c8530fb1903c"
                "c4db0c258717921a4881c809008aa35b29617636b40101ff"
            ),
            "ce n'est pas une TimeStampReq",
            "bad_data_format",
        ),
        (
            bytes.fromhex(
                "30440201013031300d06096086480e6503040201a30004202d711642b726b04401627ca9fbac32f5c8530fb1903c"
                "c4db02258717921a48810209008aa35b29617636b40101ff"
            ),
            "ce n'est pas une TimeStampReq",
            "bad_data_format",
        ),
    ],
)
def test_malformed_queries_get_a_precise_rejection(tsa, body, message, fail_info):
    status, reply, content_type = post(tsa, body)
    assert status == 400
    assert content_type == "application/timestamp-reply"
    code, text, failures = rejection(reply)
    assert code == "rejection"
    assert message in text
    assert failures == {fail_info}


def test_unsupported_hash_is_refused(tsa, tmp_path):
    (tmp_path / "F").write_bytes(b"x")
    openssl("-query", "-data", "F", "-sha1", "-out", "q.tsq", cwd=tmp_path)
    status, reply, _ = post(tsa, (tmp_path / "q.tsq").read_bytes())
    assert status == 400
    _, text, failures = rejection(reply)
    assert "algorithme de hachage non pris en charge : sha1" in text
    assert failures == {"bad_alg"}


def test_other_policy_is_refused(tsa, tmp_path):
    (tmp_path / "F").write_bytes(b"x")
    openssl("-query", "-data", "F", "-sha256", "-tspolicy", "1.2.3.4.5", "-out", "q.tsq", cwd=tmp_path)
    status, reply, _ = post(tsa, (tmp_path / "q.tsq").read_bytes())
    assert status == 400
    _, text, failures = rejection(reply)
    assert "politique d'horodatage 1.2.3.4.5 non prise en charge" in text
    assert failures == {"unaccepted_policy"}


def test_wrong_content_type_and_method(client):
    response = client.post("/preuves/tsa", data=b"x", content_type="application/json")
    assert response.status_code == 415
    assert "application/timestamp-query attendu" in response.json()["error"]["message"]
    response = client.get("/preuves/tsa")
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    assert "méthode HTTP GET non autorisée ici : POST attendu" in response.json()["error"]["message"]


def test_oversized_query(client):
    response = client.post(
        "/preuves/tsa", data=b"0" * (64 * 1024 + 1), content_type="application/timestamp-query"
    )
    assert response.status_code == 413
    assert "au plus" in response.json()["error"]["message"]


def test_endpoint_is_off_with_an_external_tsa(client, settings):
    settings.TSA_URL = "https://tsa.example.eu/tsp"
    response = client.post("/preuves/tsa", data=b"x", content_type="application/timestamp-query")
    assert response.status_code == 404
    assert "autorité externe" in response.json()["error"]["message"]
