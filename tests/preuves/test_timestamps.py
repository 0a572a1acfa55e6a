"""The RFC 3161 client: every token is verified before it is stored, whether it comes from the
embedded authority (in-process) or from an external one over HTTP — here another instance of
the platform in its own process, with its own authority."""

import hashlib
import shutil
import subprocess
import urllib.request
from pathlib import Path

import pytest
from asn1crypto import tsp
from cryptography import x509

from preuves import keys, timestamps, tsa, verifier
from preuves.models import TimestampToken
from tests.servers import free_port, running_server

OPENSSL = shutil.which("openssl")
DIGEST = hashlib.sha256(b"liste des fichiers du pli").digest()


def test_token_is_verified_stored_and_passes_openssl(db, tmp_path):
    if OPENSSL is None:
        pytest.skip("needs Debian's package openssl")
    token = timestamps.timestamp_digest(DIGEST, purpose="test", subject_type="offres.deposit", subject_id="7")
    stored = TimestampToken.objects.get(pk=token.pk)
    assert stored.hashed_message == DIGEST.hex()
    assert stored.subject_type == "offres.deposit"
    assert stored.response_sha256 == hashlib.sha256(bytes(stored.response)).hexdigest()
    assert "horodatage" in stored.tsa_name
    (tmp_path / "t.tsr").write_bytes(bytes(stored.response))
    (tmp_path / "ca.pem").write_text(timestamps.ca_pem())
    result = subprocess.run(
        [OPENSSL, "ts", "-verify", "-digest", DIGEST.hex(), "-in", "t.tsr", "-CAfile", "ca.pem"],
        cwd=tmp_path, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_sha512_and_data_helpers(db):
    token = timestamps.timestamp_digest(hashlib.sha512(b"x").digest(), algorithm="sha512", purpose="test")
    assert token.hash_algorithm == "sha512"
    assert timestamps.timestamp_data(b"x", purpose="test").hashed_message == hashlib.sha256(b"x").hexdigest()


def refused(monkeypatch, exchange, message: str) -> None:
    monkeypatch.setattr(timestamps, "exchange", exchange)
    with pytest.raises(timestamps.TimestampError, match=message):
        timestamps.timestamp_digest(DIGEST, purpose="test")
    assert not TimestampToken.objects.exists()


def test_a_corrupted_reply_is_refused_and_not_stored(db, monkeypatch):
    """Fault injection between the real authority and the client: one flipped bit."""

    def corrupting(query):
        reply = bytearray(tsa.respond(query))
        reply[-20] ^= 0x01  # inside the signature
        return bytes(reply)

    refused(monkeypatch, corrupting, "refusé : signature du jeton invalide")


def test_a_replayed_reply_is_refused(db, monkeypatch):
    """A genuine token for the same digest, but answering an earlier query: wrong nonce."""
    earlier, _ = timestamps.build_query(DIGEST)
    old_reply = tsa.respond(earlier)
    refused(monkeypatch, lambda query: old_reply, "son nonce ne correspond pas")


def test_a_token_for_other_data_is_refused(db, monkeypatch):
    def other_data(query):
        """The same query (same nonce) with another imprint: a TSA answering for other data."""
        request = tsp.TimeStampReq.load(query)
        other = tsp.TimeStampReq(
            {
                "version": "v1",
                "message_imprint": {
                    "hash_algorithm": {"algorithm": "sha256"},
                    "hashed_message": hashlib.sha256(b"autre chose").digest(),
                },
                "nonce": request["nonce"].native,
                "cert_req": True,
            }
        )
        return tsa.respond(other.dump())

    refused(monkeypatch, other_data, "il horodate une autre empreinte")


def test_a_rejection_is_reported_with_its_reason(db, monkeypatch):
    refused(
        monkeypatch,
        lambda query: tsa.respond(b"garbage"),
        "a refusé la requête : requête d'horodatage illisible",
    )


def test_garbage_is_reported(db, monkeypatch):
    refused(monkeypatch, lambda query: b"<html>502</html>", "illisible")


def test_normalising_leaves_der_and_garbage_as_they_are(db):
    """The embedded authority already writes DER (one certificate); what is not a reply is
    left for the checks to name. The OpenSSL suite checks the sorting itself."""
    query, _nonce = timestamps.build_query(DIGEST)
    reply = tsa.respond(query)
    assert timestamps.normalise_certificate_set(reply) == reply
    for garbage in (b"", b"<html>502</html>", reply[:-10], reply + b"\0", b"\x30\x80\x00\x00", reply[:40]):
        assert timestamps.normalise_certificate_set(garbage) == garbage


def test_a_truncated_reply_is_named(db, monkeypatch):
    refused(
        monkeypatch,
        lambda query: tsa.respond(query)[:-10],
        r"illisible \(ce n'est pas une TimeStampResp DER\) : .* dépasse la fin des données",
    )


def test_the_two_readings_of_a_token_must_agree(db, monkeypatch):
    """Fault injection in place of a parser differential: if verifier.py read another serial
    number than rfc3161-client, the token would be refused rather than stored half-read."""
    import dataclasses

    real = verifier.verify_timestamp

    def misreading(*args, **kwargs):
        info = real(*args, **kwargs)
        return dataclasses.replace(info, serial_number=info.serial_number + 1)

    monkeypatch.setattr(verifier, "verify_timestamp", misreading)
    with pytest.raises(timestamps.TimestampError, match="ses deux lectures"):
        timestamps.timestamp_digest(DIGEST, purpose="test")
    assert not TimestampToken.objects.exists()


def test_wrong_digest_length_is_refused(db):
    with pytest.raises(timestamps.ApplicationError, match="empreinte sha256 invalide"):
        timestamps.timestamp_digest(b"court", purpose="test")


# --- An external authority over HTTP -------------------------------------------------------


@pytest.fixture(scope="module")
def external_tsa(tmp_path_factory):
    """Another platform process on its own port, with its own key folder: its own CA."""
    folder = tmp_path_factory.mktemp("autorite-externe")
    env = {
        "PREUVES_TEST_KEY_DIR": str(folder),
        "TSA_POLICY_OID": "1.3.6.1.4.1.99999.1",
        # Its own database too: runserver looks at migrations, and the TSA needs no table.
        "DATABASE_URL": f"sqlite:///{folder / 'autorite.sqlite3'}",
    }
    with running_server(env, folder / "runserver.log", ready_path="/preuves/tsa/ca.pem") as server:
        url = server + "/preuves/tsa"
        with urllib.request.urlopen(url + "/ca.pem", timeout=10) as response:
            (folder / "bundle.pem").write_bytes(response.read())
        yield url, folder / "bundle.pem"


@pytest.fixture
def use_external(settings, external_tsa):
    url, bundle = external_tsa
    settings.TSA_URL = url
    settings.TSA_CA_BUNDLE = str(bundle)
    settings.TSA_POLICY_OID = "1.3.6.1.4.1.99999.1"
    return external_tsa


def test_external_tsa_over_http(db, use_external):
    token = timestamps.timestamp_digest(DIGEST, purpose="test")
    assert token.policy_oid == "1.3.6.1.4.1.99999.1"
    ours = keys.material().ca_cert
    theirs = x509.load_pem_x509_certificates(Path(use_external[1]).read_bytes())
    assert theirs[0] != ours  # another authority indeed
    assert timestamps.ca_pem() == Path(use_external[1]).read_text()


def test_external_tsa_token_must_chain_to_the_configured_bundle(db, use_external, settings, tmp_path):
    (tmp_path / "ours.pem").write_text(keys.material().ca_pem)
    settings.TSA_CA_BUNDLE = str(tmp_path / "ours.pem")
    with pytest.raises(timestamps.TimestampError, match="n'est émis par aucune des autorités de confiance"):
        timestamps.timestamp_digest(DIGEST, purpose="test")
    assert not TimestampToken.objects.exists()


def test_external_tsa_policy_must_match(db, use_external, settings):
    settings.TSA_POLICY_OID = "1.3.6.1.4.1.99999.2"
    with pytest.raises(
        timestamps.TimestampError, match=r"politique 1\.3\.6\.1\.4\.1\.99999\.1, la plateforme attend"
    ):
        timestamps.timestamp_digest(DIGEST, purpose="test")


def test_unreachable_tsa(db, settings, tmp_path):
    settings.TSA_URL = f"http://127.0.0.1:{free_port()}/tsp"
    settings.TSA_CA_BUNDLE = str(tmp_path / "none.pem")
    with pytest.raises(timestamps.TimestampError, match="ne répond pas"):
        timestamps.timestamp_digest(DIGEST, purpose="test")


def test_missing_bundle_setting(db, settings):
    settings.TSA_URL = "http://127.0.0.1:9/tsp"
    settings.TSA_CA_BUNDLE = ""
    with pytest.raises(timestamps.TimestampError, match="TSA_CA_BUNDLE"):
        timestamps.ca_certificates()


def test_a_token_dated_far_from_our_clock_is_refused(db, monkeypatch):
    """An authority whose clock is ten minutes slow would date deposits before their time."""
    import datetime as dt

    slow = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    refused(monkeypatch, lambda query: tsa.respond(query, now=slow), "à plus de 5 minutes de l'horloge")
