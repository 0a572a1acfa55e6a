"""What the public log says of deposits: before the opening, nothing that tells a consultation
or a company; the receipt opens its leaf's commitment; after the opening, the deposits
listed for a consultation are checked against the log's."""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import subprocess

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from marches import services
from marches.models import Consultation, Lot
from offres import commitments, receipts
from offres.models import Deposit
from preuves import keys, timestamps, verifier
from preuves import log as preuves_log
from tests.factories import MembershipFactory
from tests.marches.test_services import publishable

from . import builders


def deposit(consultation, membership, name="offre.pdf.age", *, lots=(), size=100, late=False):
    if late:
        Consultation.objects.filter(pk=consultation.pk).update(
            deadline=timezone.now() - timezone.timedelta(seconds=1)
        )
        consultation.refresh_from_db()
    ciphertext = builders.encrypt_to(consultation, "offer", b"o" * size)
    return builders.receive(
        consultation,
        membership.user,
        [("offer", name, ciphertext)],
        lots=lots,
        company=membership.organisation,
    )


@pytest.fixture
def market(buyer_agent):
    """Two consultations open for deposits, the first in two lots; two companies, each
    depositing on both, the first twice on the first consultation."""
    first, _ = publishable(buyer_agent, reference="2026-ENG-1")
    lots = [
        Lot.objects.create(consultation=first, number=n, title=f"Lot {n}", estimated_value=90_000)
        for n in (1, 2)
    ]
    first = services.consultation_publish(consultation=first, published_by=buyer_agent.user)
    second, _ = publishable(buyer_agent, reference="2026-ENG-2", title="Entretien des espaces verts")
    second = services.consultation_publish(consultation=second, published_by=buyer_agent.user)
    durand = MembershipFactory(company_admin=True, organisation__name="Durand Bâtiment")
    zephyr = MembershipFactory(company_admin=True, organisation__name="Atelier Zéphyr")
    plis = [
        deposit(first, durand, lots=lots, size=1000),
        deposit(first, zephyr, lots=lots[:1], size=2000),
        deposit(second, durand, size=3000),
        deposit(first, durand, "offre-v2.pdf.age", lots=lots[1:], size=4000),
        deposit(second, zephyr, size=5000),
    ]
    return {"consultations": (first, second), "companies": (durand, zephyr), "deposits": plis}


def public_leaves(client) -> list[dict]:
    size = preuves_log.current_head().size
    response = client.get(f"/preuves/log/leaves?start=0&end={size}")
    assert response.status_code == 200
    return response.json()["leaves"]


def test_the_public_log_tells_nothing_of_the_deposits_before_the_opening(client, market):
    first, second = market["consultations"]
    assert all(c.current_state == Consultation.State.PUBLISHED for c in (first, second))
    assert all(c.deadline > timezone.now() for c in (first, second))
    leaves = [leaf for leaf in public_leaves(client) if leaf["json"]["type"] == "deposit"]
    assert len(leaves) == len(market["deposits"])

    # A leaf publishes its type, its format, the minute of reception, a commitment and a tag.
    for leaf in leaves:
        content = leaf["json"]
        assert set(content) == {"type", "format", "commitment", "tag", "time"}
        assert content["format"] == verifier.DEPOSIT_COMMITMENT_FORMAT
        assert len(content["time"]) == len("2026-12-04T18:05Z")

    # No value is shared between two leaves but the type, the format and the minute (which
    # every deposit received in that minute shows, whoever made it and for whichever
    # consultation): nothing ties two leaves to one company or one consultation.
    for name in ("commitment", "tag"):
        values = [leaf["json"][name] for leaf in leaves]
        assert len(set(values)) == len(values), name
    pieces = [
        {leaf["json"][name][i : i + 16] for name in ("commitment", "tag") for i in range(64 - 15)}
        for leaf in leaves
    ]
    for one, other in ((a, b) for i, a in enumerate(pieces) for b in pieces[i + 1 :]):
        assert not one & other

    # And nothing in clear: no consultation, deposit, company, size nor lot.
    said, sizes = [], []
    for plis in market["deposits"]:
        plis.refresh_from_db()
        company = plis.company
        said += [
            str(plis.public_id),
            plis.public_id.hex,
            plis.consultation.reference,
            plis.consultation.title,
            company.name,
            company.siret,
            plis.digest,
            plis.commitment_nonce,
            *(f.sha256 for f in plis.files.all()),
        ]
        sizes += [f.size for f in plis.files.all()] + [sum(f.size for f in plis.files.all())]
    for leaf in leaves:
        raw = base64.b64decode(leaf["data"]).decode()
        assert raw == json.dumps(leaf["json"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        for value in said:
            assert value not in raw, value
        # Ids and sizes are a few digits, which a hex digest may hold by chance: no field is one.
        numbers = {first.pk, second.pk, *(d.company_id for d in market["deposits"]), *sizes}
        assert not {str(n) for n in numbers} & set(leaf["json"].values())
        assert not numbers & set(leaf["json"].values())


def test_the_receipt_opens_the_leaf_and_verifies(market, tmp_path):
    plis = market["deposits"][0]
    bundle = receipts.bundle(plis)
    opening = bundle["commitment_opening"]
    assert opening["nonce"] == plis.commitment_nonce
    assert opening["facts"] == {
        "consultation": plis.consultation_id,
        "deposit": str(plis.public_id),
        "company": plis.company.siret,
        "lots": [1, 2],
        "received_at": plis.received_at.isoformat(timespec="milliseconds"),
        "late": False,
        "digest": plis.digest,
        "timestamp_sha256": hashlib.sha256(bytes(plis.timestamp.response)).hexdigest(),
    }
    manifest = json.dumps(plis.manifest, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    pinned = {"log_key": keys.material().log_key.public_key(), "tsa_ca": timestamps.ca_certificates()}
    report = verifier.verify_bundle(bundle, data=manifest, **pinned)
    assert report.ok, report.first_failure
    names = [check.name for check in report.checks]
    assert {"Ouverture de l'engagement", "Fichier fourni", "Faits du bordereau"} <= set(names)

    # Without its opening the leaf proves nothing about the deposit.
    alone = verifier.verify_bundle({k: v for k, v in bundle.items() if k != "commitment_opening"}, **pinned)
    assert alone.first_failure.name == "Ouverture de l'engagement"

    # The sealed PDF prints the opening: the nonce and the facts.
    (tmp_path / "accuse.pdf").write_bytes(receipts.receipt_pdf(plis))
    printed = subprocess.run(
        ["pdftotext", str(tmp_path / "accuse.pdf"), "-"], capture_output=True, text=True, check=True
    ).stdout
    # (pdftotext drops a hyphen that ends a line: compared without hyphens)
    flat = "".join(printed.split()).replace("-", "")
    assert plis.commitment_nonce in flat
    assert verifier.canonical_json(opening["facts"]).decode().replace("-", "") in flat


def test_the_opening_minutes_can_list_the_deposits_and_anyone_compares_them_with_the_log(
    market, client, django_assert_num_queries
):
    first, second = market["consultations"]
    late = deposit(first, market["companies"][1], "tardive.pdf.age", lots=first.lots.all()[:1], late=True)
    leaves = public_leaves(client)
    with django_assert_num_queries(1):
        listed = commitments.openings(first)
    # Every deposit received, late ones included, in log order.
    mine = Deposit.objects.filter(consultation=first).order_by("log_index")
    assert [item["log_index"] for item in listed] == [d.log_index for d in mine]
    assert len(listed) == 4
    assert listed[-1]["log_index"] == late.log_index
    assert listed[-1]["opening"]["facts"]["late"] is True

    def check(items, consultation=first):
        return verifier.verify_deposit_set(
            consultation=consultation.pk,
            tag_key=commitments.tag_key(consultation.pk),
            listed=items,
            leaves=leaves,
        )

    report = check(listed)
    assert report.ok, report.first_failure
    # The leaves read from the public log are the whole tree its signed checkpoint covers.
    whole = verifier.verify_deposit_set(
        consultation=first.pk,
        tag_key=commitments.tag_key(first.pk),
        listed=listed,
        leaves=leaves,
        checkpoint=preuves_log.checkpoint_json(preuves_log.checkpoint()),
        log_key=keys.material().log_key.public_key(),
    )
    assert whole.ok, whole.first_failure
    assert report.facts["deposits_logged"] == report.facts["deposits_listed"] == 4
    assert check(commitments.openings(second), second).ok

    # A deposit left out of the minutes is found by its tag.
    hidden = check(listed[:1] + listed[2:])
    assert hidden.first_failure.name == "Même ensemble"
    assert f"n°{listed[1]['log_index']}" in hidden.first_failure.message
    # Another consultation's deposit, listed as if it were one of these.
    stranger = check([*listed, commitments.openings(second)[0]])
    assert stranger.first_failure.name == "Plis listés"
    assert "consultation" in stranger.first_failure.message
    # An opening whose fact was changed (the late one said in time).
    changed = copy.deepcopy(listed)
    changed[-1]["opening"]["facts"]["late"] = False
    assert check(changed).first_failure.name == "Plis listés"
    # Another consultation's key picks out none of these leaves.
    crossed = verifier.verify_deposit_set(
        consultation=first.pk, tag_key=commitments.tag_key(second.pk), listed=listed, leaves=leaves
    )
    assert crossed.first_failure.name == "Plis listés"
    assert "n'est pas une feuille de pli de cette consultation" in crossed.first_failure.message


def test_the_nonce_is_kept_for_every_received_deposit_and_never_for_an_open_one(market):
    plis = market["deposits"][0]
    assert len(bytes.fromhex(plis.commitment_nonce)) == verifier.NONCE_BYTES
    assert len({d.commitment_nonce for d in market["deposits"]}) == len(market["deposits"])
    with pytest.raises(IntegrityError), transaction.atomic():
        Deposit.objects.filter(pk=plis.pk).update(commitment_nonce="")
