"""A bidder checks a proof bundle in the browser: the proofs overview, then « Vérifier une
preuve » with a genuine bundle and with a forged one. Each page is audited with axe."""

import base64
import json

import pytest

from preuves import log, timestamps

from .helpers import check_page

expect = pytest.importorskip(
    "playwright.sync_api",
    reason="browser tests need the Python package `playwright` and Debian's package `chromium`",
).expect


@pytest.fixture
def bundle_file(transactional_db, tmp_path):
    log.append_many("test", [{"n": i} for i in range(5)])
    token = timestamps.timestamp_data(b"manifeste du pli", purpose="test")
    leaf = log.append("depot", {"consultation": 4, **log.leaf_digest_fields(token)})
    bundle = log.bundle(leaf.index)
    path = tmp_path / "preuve.json"
    path.write_text(json.dumps(bundle, indent=2))
    data = json.loads(base64.b64decode(bundle["leaf"]["data"]))
    data["consultation"] = 5
    bundle["leaf"]["data"] = base64.b64encode(log.canonical(data)).decode()
    forged = tmp_path / "preuve-falsifiee.json"
    forged.write_text(json.dumps(bundle))
    return path, forged


def test_a_bidder_verifies_a_proof_bundle(page, bundle_file):
    genuine, forged = bundle_file
    page.goto("/preuves/")
    expect(page.get_by_role("heading", name="Preuves vérifiables")).to_be_visible()
    check_page(page, "preuves-index")
    page.get_by_role("link", name="Vérifier une preuve").first.click()
    expect(page.get_by_role("heading", name="Vérifier une preuve", level=1)).to_be_visible()
    check_page(page, "preuves-verifier")

    page.get_by_label("Paquet de preuve").set_input_files(str(genuine))
    page.get_by_role("button", name="Vérifier").click()
    expect(page.get_by_role("heading", name="Preuve valide")).to_be_visible()
    expect(page.get_by_text("Échec", exact=True)).to_have_count(0)
    check_page(page, "preuves-verifier-valide")

    page.get_by_label("Paquet de preuve").set_input_files(str(forged))
    page.get_by_role("button", name="Vérifier").click()
    expect(page.get_by_role("heading", name="Preuve invalide")).to_be_visible()
    expect(page.get_by_text("Échec", exact=True).first).to_be_visible()
    check_page(page, "preuves-verifier-invalide")
