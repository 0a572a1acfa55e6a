"""The receipt shows the exact time: the RFC 3161 token's genTime, to the millisecond, read
from the signed token itself, in the API's receipt, on the receipt page and in the sealed PDF."""

import re
import shutil
import subprocess
import zoneinfo

import pytest
from django.urls import reverse

from comptes.services import api_token_create
from preuves import pdf, timestamps, verifier
from tests.helpers import login_as, text

pytestmark = pytest.mark.django_db
PARIS = zoneinfo.ZoneInfo("Europe/Paris")


def token_time(deposit):
    """genTime as the signed token says it (not the database's copy)."""
    info = verifier.verify_timestamp(
        bytes(deposit.timestamp.response), hashed_message=None, ca_certs=timestamps.ca_certificates()
    )
    return info.gen_time


def test_the_api_receipt_gives_the_token_time_to_the_millisecond(client, received, bidder_membership):
    _, secret = api_token_create(user=bidder_membership.user, name="cli")
    response = client.post(
        reverse("api:deposit_finalise", args=[received.public_id]),
        data=b"{}",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {secret}",
    )
    assert response.status_code == 200, response.content
    shown = response.json()["timestamp"]
    # Always three digits of fraction, never six, never none (a token at .000 keeps them).
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d", shown), shown
    assert shown == token_time(received).astimezone(PARIS).isoformat(timespec="milliseconds")


def test_the_receipt_page_gives_the_token_time_to_the_millisecond(client, received, bidder_membership):
    login_as(client, bidder_membership.user)
    page = text(client.get(reverse("offres:deposit_detail", args=[received.public_id])))
    assert f"{pdf.paris_time(token_time(received), milliseconds=True)}, {received.timestamp.tsa_name}" in page


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs Debian's package poppler-utils")
def test_the_sealed_pdf_gives_the_token_time_to_the_millisecond(received, tmp_path):
    from offres import receipts

    (tmp_path / "accuse.pdf").write_bytes(receipts.receipt_pdf(received))
    printed = subprocess.run(
        ["pdftotext", "-raw", str(tmp_path / "accuse.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    flat = " ".join(printed.split())
    assert f"{pdf.paris_time(token_time(received), milliseconds=True)}, {received.timestamp.tsa_name}" in flat
