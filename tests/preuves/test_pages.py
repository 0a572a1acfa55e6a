"""The public proof pages: the overview and « Vérifier une preuve »."""

import base64
import hashlib
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from preuves import keys, log, timestamps, verifier
from tests.helpers import text


@pytest.fixture
def bundle(db):
    log.append_many("test", [{"n": i} for i in range(3)])
    token = timestamps.timestamp_data(b"manifeste du pli", purpose="test")
    leaf = log.append("depot", {"consultation": 4, **log.leaf_digest_fields(token)})
    log.append("test", {"n": 9})
    return log.bundle(leaf.index)


def upload(client, document, **fields):
    payload = json.dumps(document).encode() if not isinstance(document, bytes) else document
    files = {"bundle": SimpleUploadedFile("preuve.json", payload, content_type="application/json")}
    if "data" in fields:
        files["data"] = SimpleUploadedFile("manifeste.json", fields.pop("data"))
    return client.post("/preuves/verifier/", files)


def test_overview_page(client, bundle, django_assert_max_num_queries):
    with django_assert_max_num_queries(4):
        response = client.get("/preuves/")
    assert response.status_code == 200
    page = " ".join(text(response).split())
    assert "Taille : <strong>5</strong> feuilles" in page
    assert "/preuves/log/checkpoint" in page
    assert "python preuves/verifier.py" in page


def test_valid_bundle(client, bundle):
    response = upload(client, bundle)
    page = text(response)
    assert response.status_code == 200
    assert "Preuve valide" in page
    assert "Échec" not in page


def test_valid_bundle_with_the_timestamped_file(client, bundle):
    assert "Preuve valide" in text(upload(client, bundle, data=b"manifeste du pli"))
    page = text(upload(client, bundle, data=b"autre manifeste"))
    assert "Preuve invalide" in page


def test_forged_bundle(client, bundle):
    data = json.loads(base64.b64decode(bundle["leaf"]["data"]))
    data["consultation"] = 5
    bundle["leaf"]["data"] = base64.b64encode(log.canonical(data)).decode()
    page = text(upload(client, bundle))
    assert "Preuve invalide" in page
    assert "Échec" in page


def test_a_bundle_from_another_log_fails_against_the_published_key(client, bundle, settings, tmp_path):
    """Another key folder is another platform: its checkpoint signature, however well formed,
    does not verify under the key this platform publishes."""
    original = settings.PREUVES_KEY_DIR
    settings.PREUVES_KEY_DIR = tmp_path / "autre-plateforme"
    other = keys.material()
    settings.PREUVES_KEY_DIR = original
    origin = bundle["checkpoint"]["origin"]
    body = bundle["checkpoint"]["note"].split("\n\n")[0] + "\n"
    signature = other.log_key.sign(body.encode())
    bundle["checkpoint"]["note"] = verifier.signed_note(
        body, origin, verifier.key_id(origin, other.log_public_key), signature
    )
    bundle["log_public_key"] = other.log_public_key_pem
    # With its own key the forged note verifies: the platform's published key is what refuses it.
    own = verifier.verify_bundle(bundle, log_key=other.log_key.public_key())
    assert next(c for c in own.checks if c.name == "Signature du point de contrôle").ok
    response = upload(client, bundle)
    assert "Preuve invalide" in text(response)
    report = response.context["report"]
    assert not next(c for c in report.checks if c.name == "Signature du point de contrôle").ok


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"{pas du json", "JSON illisible"),
        (b"[1, 2]", "un objet JSON est attendu"),
        (b"\xff\xfe", "pas en texte UTF-8"),
        (b"[" * 100_000, "JSON illisible"),
        (b"1" * 5000, "JSON illisible"),
    ],
)
def test_unreadable_uploads_get_a_french_error(client, db, payload, message):
    response = upload(client, payload)
    assert response.status_code == 200
    assert message in text(response)


def test_missing_file(client, db):
    response = client.post("/preuves/verifier/", {})
    assert "Ce champ est obligatoire" in text(response)


def test_bundle_missing_fields_is_reported_not_crashed(client, db):
    page = text(upload(client, {"format": "marches-ouverts/preuve/1"}))
    assert "Preuve invalide" in page
    assert "leaf" in page


def test_hostile_bundle_contents_fail_checks_without_a_server_error(client, bundle):
    """Deeply nested leaf JSON and certificates that are PEM armour around garbage: each is
    a failed check with a French message, never a 500."""
    deep = dict(bundle, leaf={**bundle["leaf"], "data": base64.b64encode(b"[" * 100_000).decode()})
    garbage_pem = (
        "-----BEGIN CERTIFICATE-----\n"
        + base64.b64encode(b"\x30\x03\x02\x01\x01").decode()
        + "\n-----END CERTIFICATE-----\n"
    )
    bad_ca = dict(bundle, tsa_ca=garbage_pem)
    for document in (deep, bad_ca):
        report = verifier.verify_bundle(document)
        assert not report.ok
        assert all(check.message for check in report.checks)
        assert upload(client, document).status_code == 200
    failure = verifier.verify_bundle(deep).first_failure
    assert failure.name == "Données de la feuille"
    assert failure.message == "les données de la feuille ne sont pas un JSON lisible"
    ca_check = next(c for c in verifier.verify_bundle(bad_ca).checks if c.name == "Autorité d'horodatage")
    assert "illisible" in ca_check.message


MANIFEST = log.canonical(
    {
        "format": "marches-ouverts/bordereau/1",
        "deposit": "0b6f4c1e-3a5d-4e8f-9a7b-2c1d0e9f8a7b",
        "company": {"name": "Durand Bâtiment", "identifier": "12345678900011"},
        "consultation": {"id": 4, "reference": "2026-004"},
        "lots": [],
        "received_at": "2026-12-04T17:59:59.999+00:00",
        "late": False,
    }
)


@pytest.fixture
def deposit_bundle(db):
    """The bundle of a deposit leaf, which publishes only a commitment, with its opening."""
    log.append_many("test", [{"n": i} for i in range(3)])
    token = timestamps.timestamp_data(MANIFEST, purpose="test")
    manifest = json.loads(MANIFEST)
    facts = {
        "consultation": 4,
        "deposit": manifest["deposit"],
        "company": "12345678900011",
        "lots": [],
        "received_at": manifest["received_at"],
        "late": False,
        "digest": token.hashed_message,
        "timestamp_sha256": hashlib.sha256(bytes(token.response)).hexdigest(),
    }
    leaf, nonce = log.append_deposit(facts, tag_key=b"cle de la consultation 4")
    assert set(json.loads(bytes(leaf.data))) == {"type", "format", "commitment", "tag", "time"}
    return {
        **log.bundle(leaf.index, token=token),
        "commitment_opening": verifier.deposit_opening(facts, nonce),
    }


def test_a_deposit_receipt_opens_its_leaf_on_the_page(client, deposit_bundle):
    response = upload(client, deposit_bundle, data=MANIFEST)
    page = text(response)
    assert "Preuve valide" in page
    checks = {check.name: check.ok for check in response.context["report"].checks}
    assert checks["Ouverture de l'engagement"]
    assert checks["Faits du bordereau"]
    assert "Identifiant du pli" in page
    assert "0b6f4c1e-3a5d-4e8f-9a7b-2c1d0e9f8a7b" in page


def test_the_page_names_the_wrong_fact(client, deposit_bundle):
    deposit_bundle["commitment_opening"]["facts"]["late"] = True
    page = " ".join(text(upload(client, deposit_bundle, data=MANIFEST)).split())
    assert "Preuve invalide" in page
    assert "fait faux dans l'ouverture, d'après le bordereau fourni ou le jeton du lot : « late »" in page
    del deposit_bundle["commitment_opening"]
    page = text(upload(client, deposit_bundle))
    assert "Preuve invalide" in page
    assert "commitment_opening" in page
