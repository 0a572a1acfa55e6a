"""Journal anchoring: the journal's head is appended to the transparency log periodically.

Each anchor leaf records (seq, hash) of the journal's head and a timestamp token whose
imprint is that head hash itself, so `openssl ts -verify -digest <hash>` checks it. Anyone
holding an older checkpoint can prove the log only grew (consistency proofs); rewriting the
journal, even with recomputed hashes, would then contradict a published anchor, which
the full verification (`preuves/audit.py`, `manage.py journal verify`) detects.
"""

from __future__ import annotations

import json

from django.db import transaction

from . import log, timestamps
from .models import JournalHead, LogLeaf

KIND = "journal.head"


def anchor_journal() -> LogLeaf | None:
    """Append the journal's head if it moved since the last anchor; returns the new leaf."""
    head = JournalHead.objects.filter(pk=1).first()
    if head is None or head.seq == 0:
        return None
    last = LogLeaf.objects.filter(kind=KIND).order_by("-index").first()
    if last is not None and _anchored_seq(last) == head.seq:
        return None
    token = timestamps.timestamp_digest(
        bytes.fromhex(head.hash),
        purpose="journal.anchor",
        subject_type="preuves.journalentry",
        subject_id=str(head.seq),
    )
    with transaction.atomic():
        leaf = log.append(KIND, {"seq": head.seq, "hash": head.hash, **log.leaf_digest_fields(token)})
    log.checkpoint(covering=leaf.index + 1)
    return leaf


def _anchored_seq(leaf: LogLeaf):
    """The journal number an anchor leaf records; None for a leaf that does not parse (the
    full verification names it, preuves/audit.py; anchoring goes on)."""
    try:
        content = json.loads(bytes(leaf.data))
    except ValueError:
        return None
    return content.get("seq") if isinstance(content, dict) else None
