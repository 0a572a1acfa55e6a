"""What the public transparency log says of a deposit: nothing, before the opening.

A deposit's leaf publishes only its type, the minute of reception, a commitment and a tag
(preuves/verifier.py defines the formats, docs/verifier.md the bytes):

- the commitment is a SHA-256 over the deposit's facts — consultation, deposit, company,
  lots, reception time, late flag, manifest digest, token digest — and a random 32-byte
  nonce, fresh for each deposit: no leaf shares a value with another, so the log tells no
  one which consultation a deposit is for, how large it is, nor which company sent it;
- the nonce is kept in the deposit's row (the database is not public) and given to the
  company in its receipt, whose proof bundle and sealed PDF carry the opening (facts and
  nonce): with it, the company proves that its deposit is in the log;
- the tag is an HMAC of the commitment under the consultation's key, derived from the
  platform's secret: it says nothing until the opening minutes publish that key, and then
  it picks out every leaf of the consultation, so that anyone checks that the deposits
  listed in the minutes are exactly those the log holds (`verifier.verify_deposit_set`).

The operator, who holds the database, can link each leaf to its deposit: it knows the
deposits anyway.
"""

from __future__ import annotations

import hashlib

from django.utils.crypto import salted_hmac

from preuves import verifier

from .models import Deposit


def tag_key(consultation_id: int) -> bytes:
    """The consultation's key for the tags of its leaves: secret until the opening minutes
    publish it, and one consultation's key tells nothing of another's."""
    return salted_hmac("offres.consultation-log-key", str(consultation_id), algorithm="sha256").digest()


def facts(deposit: Deposit) -> dict:
    """The facts a deposit's leaf commits to, read from its manifest and its token."""
    manifest = deposit.manifest
    return {
        "consultation": manifest["consultation"]["id"],
        "deposit": manifest["deposit"],
        "company": manifest["company"]["identifier"],
        "lots": manifest["lots"],
        "received_at": manifest["received_at"],
        "late": manifest["late"],
        "digest": deposit.digest,
        "timestamp_sha256": hashlib.sha256(bytes(deposit.timestamp.response)).hexdigest(),
    }


def opening(deposit: Deposit) -> dict:
    """The opening of a received deposit's commitment: its facts and its nonce."""
    return verifier.deposit_opening(facts(deposit), bytes.fromhex(deposit.commitment_nonce))


def openings(consultation) -> list[dict]:
    """For the opening minutes: every deposit received for the consultation, late ones
    included, as {"log_index", "opening"}, in log order — what `verifier.verify_deposit_set`
    compares with the log, given the consultation's `tag_key`."""
    received = (
        Deposit.objects.received()
        .filter(consultation=consultation)
        .select_related("timestamp")
        .order_by("log_index")
    )
    return [{"log_index": deposit.log_index, "opening": opening(deposit)} for deposit in received]
