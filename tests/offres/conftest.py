"""Fixtures of the deposit tests: a consultation published through the service (with its
opening keys), a company user with an API token, and a deposit with a file encrypted by the
`age` command line, announced through the API."""

import os
import shutil
import subprocess

import pytest

from comptes.services import api_token_create
from marches import services
from tests.factories import MembershipFactory
from tests.marches.test_services import publishable

from . import builders
from .test_deposit_api import CHUNK, post_json

AGE = shutil.which("age")


@pytest.fixture
def published(buyer_agent):
    """A consultation published through the service, commission of three, quorum 2."""
    consultation, members = publishable(buyer_agent, reference="2026-OUV-1")
    return services.consultation_publish(consultation=consultation, published_by=buyer_agent.user), members


@pytest.fixture
def bidder(transactional_db):
    membership = MembershipFactory(company_admin=True)
    _, token = api_token_create(user=membership.user, name="depot-cli")
    return membership, token


@pytest.fixture
def deposit_setup(live_server, bidder, published, tmp_path):
    if AGE is None:
        pytest.skip("needs Debian's package age")
    consultation, _ = published
    _, token = bidder
    plaintext = os.urandom(3 * CHUNK + 1234)
    (tmp_path / "offre.pdf").write_bytes(plaintext)
    recipient = consultation.opening_keys.get(envelope="offer").recipient
    subprocess.run([AGE, "-r", recipient, "-o", "offre.pdf.age", "offre.pdf"], cwd=tmp_path, check=True)
    ciphertext = (tmp_path / "offre.pdf.age").read_bytes()
    api = live_server.url + "/api/v1"
    status, deposit = post_json(f"{api}/depots/", token, {"consultation": consultation.pk})
    assert status == 201, deposit
    assert deposit["recipients"]["offer"] == recipient
    base = f"{api}/depots/{deposit['id']}"
    status, file = post_json(
        f"{base}/fichiers/", token, {"envelope": "offer", "name": "offre.pdf.age", "size": len(ciphertext)}
    )
    assert status == 201, file
    return token, base, file, ciphertext


@pytest.fixture
def bidder_membership():
    """A company admin whose deposits the bidder-side tests look at."""
    return MembershipFactory(company_admin=True, organisation__name="Charpentes Bernard")


@pytest.fixture
def received(published, bidder_membership):
    """One received deposit of `bidder_membership` on the published consultation."""
    consultation, _ = published
    ciphertext = builders.encrypt_to(consultation, "offer", b"offre")
    return builders.receive(consultation, bidder_membership.user, [("offer", "offre.pdf.age", ciphertext)])
