"""Journal anchoring: the journal's head is appended to the transparency log periodically.

Each anchor leaf records (seq, hash) of the journal's head and a timestamp token whose
imprint is that head hash itself, so `openssl ts -verify -digest <hash>` checks it. Anyone
holding an older checkpoint can prove the log only grew (consistency proofs); rewriting the
journal, even with recomputed hashes, would then contradict a published anchor, which
`verify_anchors()` (and `manage.py journal verify`) detects.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.db import transaction

from . import log, timestamps
from .models import JournalEntry, JournalHead, LogLeaf

KIND = "journal.head"


def anchor_journal() -> LogLeaf | None:
    """Append the journal's head if it moved since the last anchor; returns the new leaf."""
    head = JournalHead.objects.filter(pk=1).first()
    if head is None or head.seq == 0:
        return None
    last = LogLeaf.objects.filter(kind=KIND).order_by("-index").first()
    if last is not None and json.loads(bytes(last.data))["seq"] == head.seq:
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


@dataclass(frozen=True)
class AnchorCheck:
    ok: bool
    count: int
    error: str = ""


def verify_anchors() -> AnchorCheck:
    """Every anchored (seq, hash) must still be the journal's entry of that number."""
    count = 0
    for leaf in LogLeaf.objects.filter(kind=KIND).order_by("index").iterator(chunk_size=1000):
        anchor = json.loads(bytes(leaf.data))
        entry = JournalEntry.objects.filter(seq=anchor["seq"]).only("hash").first()
        if entry is None:
            return AnchorCheck(
                False,
                count,
                f"ancrage de la feuille n° {leaf.index} : l'entrée n° {anchor['seq']} du journal a disparu",
            )
        if entry.hash != anchor["hash"]:
            return AnchorCheck(
                False,
                count,
                f"ancrage de la feuille n° {leaf.index} : l'entrée n° {anchor['seq']} du journal a le hash "
                f"{entry.hash}, le journal de transparence a publié {anchor['hash']} (journal réécrit)",
            )
        count += 1
    return AnchorCheck(True, count)
