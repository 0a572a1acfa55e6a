"""« Retirer ce fichier » and « Abandonner ce dépôt » on the deposit page, in Chromium.

Written against the API contract built on branch h/depapi (issue 12):
`DELETE /api/v1/depots/<uuid>/fichiers/<file_id>` → 204 removes an announced file of an
unfinished deposit; `POST /api/v1/depots/<uuid>/abandonner` → 200 with the deposit, state
"abandoned". These tests pass once that branch is merged; before, the server has neither
route and the page says the removal or the abandonment failed.

A file the server refuses at a chunk (here a 415 « not age », forced by intercepting that
file's chunk) no longer blocks its deposit: it is removed and the others are sent and
receipted, or the whole deposit is abandoned."""

from __future__ import annotations

import json
import re

import pytest

from offres.models import Deposit, DepositFile

from .helpers import check_page
from .test_browser_deposit import RECEIPT_URL, UPLOAD_TIMEOUT_MS, _choose, _open_deposit_page
from .test_browser_deposit_pages import company_user, tender  # noqa: F401 (fixtures)

expect = pytest.importorskip(
    "playwright.sync_api",
    reason="browser tests need the Python package `playwright` and Debian's package `chromium`",
).expect

SEND = "Chiffrer et envoyer le pli"
REFUSAL = {
    "error": {
        "code": "not_age",
        "message": "« annexe.pdf.age » refusé : en-tête age illisible.",
        "details": {},
    }
}


def _refuse_the_annex(page) -> None:
    """The first chunk of « annexe.pdf » is refused; the other file's chunks reach the server.
    The annex's id is read from the server's answer to its announcement, not from the
    database: Playwright runs this handler in a greenlet of its own, where Django would open
    a connection that nothing closes."""
    annex = {}

    def route(route):
        request = route.request
        if request.method == "POST" and request.url.endswith("/fichiers/"):
            response = route.fetch()
            announced = response.json()
            if announced.get("name") == "annexe.pdf.age":
                annex["url"] = f"/fichiers/{announced['id']}/contenu"
            route.fulfill(response=response)
        elif request.method == "PUT" and annex.get("url") and annex["url"] in request.url:
            route.fulfill(status=415, body=json.dumps(REFUSAL), content_type="application/json")
        else:
            route.continue_()

    page.route(re.compile(r"/fichiers/"), route)


def test_a_refused_file_is_removed_and_the_others_are_receipted(page, tender, company_user, tmp_path):  # noqa: F811
    consultation, _ = tender
    _open_deposit_page(page, consultation, company_user)
    _refuse_the_annex(page)
    _choose(page, tmp_path, {"offer": {"offre.pdf": b"%PDF offre", "annexe.pdf": b"%PDF annexe"}})
    page.get_by_role("button", name=SEND).click()
    error = page.locator("#depot-error")
    expect(error).to_contain_text("« annexe.pdf.age » refusé : en-tête age illisible.")
    expect(error).to_contain_text("Votre pli n'est pas reçu")
    expect(error).to_contain_text("Aucun accusé de réception n'a été délivré.")
    check_page(page, "deposit_file_refused")
    page.get_by_role("button", name="Retirer ce fichier").click()
    expect(error).to_contain_text("« annexe.pdf » est retiré du pli")
    assert list(DepositFile.objects.values_list("name", flat=True)) == ["offre.pdf.age"]
    page.get_by_role("button", name="Continuer l'envoi sans ce fichier").click()
    page.wait_for_url(RECEIPT_URL, timeout=UPLOAD_TIMEOUT_MS)
    deposit = Deposit.objects.get()
    assert deposit.state == Deposit.State.RECEIVED
    assert [f["name"] for f in deposit.manifest["files"]] == ["offre.pdf.age"]


def test_an_unfinished_deposit_is_abandoned(page, tender, company_user, tmp_path):  # noqa: F811
    consultation, _ = tender
    _open_deposit_page(page, consultation, company_user)
    _refuse_the_annex(page)
    _choose(page, tmp_path, {"offer": {"offre.pdf": b"%PDF offre", "annexe.pdf": b"%PDF annexe"}})
    page.get_by_role("button", name=SEND).click()
    expect(page.locator("#depot-error")).to_contain_text("refusé")
    page.get_by_role("button", name="Abandonner ce dépôt").click()
    notice = page.locator("#depot-notice")
    expect(notice).to_contain_text("Ce dépôt est abandonné : il ne sera ni reçu ni ouvert.")
    assert Deposit.objects.get().state == "abandoned"
    # The form is free again for a new deposit.
    expect(page.get_by_role("button", name=SEND)).to_be_enabled()
