"""The public proof pages: the overview and « Vérifier une preuve »."""

import base64
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
    return client.post("/preuves/verifier/", {"trust": fields.pop("trust", "platform"), **files})


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


def test_bundle_keys_are_used_with_a_warning(client, bundle):
    page = text(upload(client, bundle, trust="bundle"))
    assert "Preuve valide" in page
    assert "/preuves/log/key.pem" in page  # the warning says where to compare the key


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
    bundle["checkpoint"]["timestamp"] = None
    assert "Preuve valide" in text(upload(client, bundle, trust="bundle"))  # consistent with itself
    page = text(upload(client, bundle))
    assert "Preuve invalide" in page


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"{pas du json", "JSON illisible"),
        (b"[1, 2]", "un objet JSON est attendu"),
        (b"\xff\xfe", "JSON illisible"),
    ],
)
def test_unreadable_uploads_get_a_french_error(client, db, payload, message):
    response = upload(client, payload)
    assert response.status_code == 200
    assert message in text(response)


def test_missing_file(client, db):
    response = client.post("/preuves/verifier/", {"trust": "platform"})
    assert "Ce champ est obligatoire" in text(response)


def test_bundle_missing_fields_is_reported_not_crashed(client, db):
    page = text(upload(client, {"format": "marches-ouverts/preuve/1"}))
    assert "Preuve invalide" in page
    assert "leaf" in page
