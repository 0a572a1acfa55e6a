"""Hash-chained, append-only journal.

Every entry commits to the previous one: `hash = SHA-256(canonical(entry fields, prev_hash))`.
`preuves` depends on no other app, so actors, organisations and targets are recorded by
id and label rather than by foreign key: the journal outlives anything it mentions.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Model
from django.utils import timezone

from .models import JournalEntry, JournalHead

GENESIS_HASH = "0" * 64


def canonical_json(data: Any) -> bytes:
    """Deterministic JSON: sorted keys, no spaces, UTF-8. Used for every hash we compute."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(
    *,
    seq: int,
    created_at: str,
    actor_id: int | None,
    actor_label: str,
    organisation_id: int | None,
    organisation_label: str,
    action: str,
    target_type: str,
    target_id: str,
    payload: dict,
    prev_hash: str,
) -> str:
    body = {
        "seq": seq,
        "created_at": created_at,
        "actor_id": actor_id,
        "actor_label": actor_label,
        "organisation_id": organisation_id,
        "organisation_label": organisation_label,
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "payload": payload,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(body)).hexdigest()


def _hash_of(entry: JournalEntry) -> str:
    return entry_hash(
        seq=entry.seq,
        created_at=entry.created_at.isoformat(timespec="microseconds"),
        actor_id=entry.actor_id,
        actor_label=entry.actor_label,
        organisation_id=entry.organisation_id,
        organisation_label=entry.organisation_label,
        action=entry.action,
        target_type=entry.target_type,
        target_id=entry.target_id,
        payload=entry.payload,
        prev_hash=entry.prev_hash,
    )


def _describe_target(target: Model | None) -> tuple[str, str]:
    if target is None:
        return "", ""
    return f"{target._meta.app_label}.{target._meta.model_name}", str(target.pk)


def record(
    action: str,
    *,
    actor: Model | None = None,
    organisation: Model | None = None,
    target: Model | None = None,
    payload: dict[str, Any] | None = None,
) -> JournalEntry:
    """Append one event. Joins the caller's transaction, so the event and the action it
    records commit or roll back together. The head row is locked to serialise appends."""
    payload = json.loads(canonical_json(payload or {}))  # only JSON-native values survive
    is_authenticated = getattr(actor, "is_authenticated", actor is not None)
    actor = actor if actor is not None and is_authenticated else None
    target_type, target_id = _describe_target(target)
    with transaction.atomic():
        head, _ = JournalHead.objects.select_for_update().get_or_create(
            pk=1, defaults={"seq": 0, "hash": GENESIS_HASH}
        )
        entry = JournalEntry(
            seq=head.seq + 1,
            created_at=timezone.now(),
            actor_id=actor.pk if actor else None,
            actor_label=str(actor) if actor else "",
            organisation_id=organisation.pk if organisation else None,
            organisation_label=str(organisation) if organisation else "",
            action=action,
            target_type=target_type,
            target_id=target_id,
            payload=payload,
            prev_hash=head.hash,
        )
        entry.hash = _hash_of(entry)
        entry.save(force_insert=True)
        head.seq, head.hash = entry.seq, entry.hash
        head.save(update_fields=["seq", "hash"])
    return entry


@dataclass(frozen=True)
class VerificationResult:
    ok: bool
    count: int
    head_hash: str
    error: str = ""
    broken_seq: int | None = None


def verify(on_entry: Callable[[int, str], None] | None = None) -> VerificationResult:
    """Walk the whole chain. Any edited, removed, inserted or reordered entry breaks it.
    `on_entry(seq, hash)` sees each entry once its hash is recomputed and found chained (the
    full verification compares the anchors published in the log with it, preuves/audit.py)."""
    prev_hash = GENESIS_HASH
    expected_seq = 1
    count = 0
    for entry in JournalEntry.objects.order_by("seq").iterator(chunk_size=2000):
        if entry.seq != expected_seq:
            return VerificationResult(
                False,
                count,
                prev_hash,
                f"entrée n° {entry.seq} trouvée à la place attendue de l'entrée n° {expected_seq} "
                "(entrée supprimée ou déplacée)",
                entry.seq,
            )
        if entry.prev_hash != prev_hash:
            return VerificationResult(
                False,
                count,
                prev_hash,
                f"entrée n° {entry.seq} : le hash précédent ne correspond pas à l'entrée n° {entry.seq - 1}",
                entry.seq,
            )
        if _hash_of(entry) != entry.hash:
            return VerificationResult(
                False,
                count,
                prev_hash,
                f"entrée n° {entry.seq} : son contenu a été modifié (hash recalculé différent)",
                entry.seq,
            )
        if on_entry is not None:
            on_entry(entry.seq, entry.hash)
        prev_hash = entry.hash
        expected_seq += 1
        count += 1
    head = JournalHead.objects.filter(pk=1).first()
    head_seq, head_hash = (head.seq, head.hash) if head else (0, GENESIS_HASH)
    if (head_seq, head_hash) != (count, prev_hash):
        return VerificationResult(
            False,
            count,
            prev_hash,
            f"entrée n° {count + 1} manquante : la tête du journal annonce {head_seq} entrées "
            f"mais la chaîne en compte {count} (entrées finales supprimées)",
            count + 1,
        )
    return VerificationResult(True, count, prev_hash)
