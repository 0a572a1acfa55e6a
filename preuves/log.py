"""The transparency log (RFC 9162): append-only Merkle tree, signed checkpoints, proofs.

Appends lock the head row, so two deposits finalised in the same millisecond get
consecutive indexes and no index is ever skipped; the leaf, the subtrees it completes and
the new head commit together with the caller's transaction, or not at all.

Checkpoints are C2SP signed notes over (origin, size, root), signed with the log's Ed25519
key and timestamped by the TSA. They are coalesced: `checkpoint(covering=n)` returns the
latest checkpoint if it already covers n leaves, otherwise signs the current head, under a
lock of its own so that a rush of deposits waits on one TSA request, not one each.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from config.errors import ApplicationError

from . import keys, merkle, timestamps, verifier
from .models import Checkpoint, CheckpointLock, LogHead, LogLeaf, LogNode, TimestampToken


def canonical(data: dict[str, Any]) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def db_nodes(node_keys: Iterable[int]) -> dict[int, bytes]:
    """The stored subtrees among `node_keys`, in one query. A plain cursor: the ORM spent a
    millisecond building a 30-key IN query that PostgreSQL answers in 0.15 ms
    (docs/performance.md), and every proof pays this once."""
    node_keys = list(node_keys)
    if not node_keys:
        return {}
    table = LogNode._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"SELECT key, hash FROM {table} WHERE key = ANY(%s)", [node_keys])  # noqa: S608
        else:
            marks = ", ".join(["%s"] * len(node_keys))
            cursor.execute(f"SELECT key, hash FROM {table} WHERE key IN ({marks})", node_keys)  # noqa: S608
        return {k: bytes(h) for k, h in cursor.fetchall()}


def _locked_head() -> LogHead:
    head, _ = LogHead.objects.select_for_update().get_or_create(
        pk=1, defaults={"size": 0, "root_hash": merkle.EMPTY_ROOT}
    )
    return head


def append(kind: str, data: dict[str, Any]) -> LogLeaf:
    """Append one leaf, inside the caller's transaction; returns it with its index."""
    return append_many(kind, [data])[0]


def append_many(kind: str, items: list[dict[str, Any]]) -> list[LogLeaf]:
    with transaction.atomic():
        head = _locked_head()
        size = head.size
        frontier_keys = [merkle.key(level, position) for level, position in merkle.decompose(0, size)]
        stored = db_nodes(frontier_keys)
        frontier = [stored[k] for k in frontier_keys]
        now = timezone.now()
        leaves, nodes = [], []
        for offset, item in enumerate(items):
            body = canonical({**item, "type": kind})
            digest = merkle.leaf_hash(body)
            created, frontier = merkle.append_nodes(size + offset, frontier, digest)
            nodes.extend(LogNode(key=k, hash=h) for k, h in created)
            leaves.append(
                LogLeaf(index=size + offset, kind=kind, data=body, leaf_hash=digest, created_at=now)
            )
        LogLeaf.objects.bulk_create(leaves)
        LogNode.objects.bulk_create(nodes)
        head.size = size + len(items)
        head.root_hash = merkle.fold(frontier)
        head.save(update_fields=["size", "root_hash"])
    return leaves


@dataclass(frozen=True)
class TreeHead:
    size: int
    root_hash: bytes


def current_head() -> TreeHead:
    """The committed head, read with a plain cursor for the same reason as db_nodes."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT size, root_hash FROM {LogHead._meta.db_table} WHERE id = 1")  # noqa: S608
        row = cursor.fetchone()
    if row is None:
        return TreeHead(0, merkle.EMPTY_ROOT)
    return TreeHead(row[0], bytes(row[1]))


def sign_head(size: int, root_hash: bytes) -> str:
    material = keys.material()
    origin = settings.PREUVES_LOG_ORIGIN
    body = verifier.note_body(origin, size, root_hash)
    signature = material.log_key.sign(body.encode())
    return verifier.signed_note(body, origin, verifier.key_id(origin, material.log_public_key), signature)


def checkpoint(*, covering: int | None = None) -> Checkpoint:
    """A checkpoint of at least `covering` leaves (default: the whole current tree).

    Call it once the appending transaction has committed (as `anchoring.anchor_journal`
    does): it signs the head as this connection sees it, and a head signed inside a
    transaction that then rolls back would be a signature over a tree that never existed."""
    target = covering if covering is not None else current_head().size
    latest = Checkpoint.objects.order_by("-size").first()
    if latest is not None and latest.size >= target:
        return latest
    with transaction.atomic():
        # Checkpoint writers queue on their own row, not on the head: appends go on while
        # one of them waits for the TSA, and whoever waited finds the work done.
        CheckpointLock.objects.select_for_update().get_or_create(pk=1)
        latest = Checkpoint.objects.order_by("-size").first()
        if latest is not None and latest.size >= target:
            return latest
        head = current_head()
        if head.size < target:
            raise ApplicationError(
                f"le journal de transparence compte {verifier.count(head.size, 'feuille')}, "
                f"{target} demandées",
                code="log_size",
            )
        note = sign_head(head.size, head.root_hash)
        token = timestamps.timestamp_data(
            note.encode(),
            purpose="log.checkpoint",
            subject_type="preuves.checkpoint",
            subject_id=str(head.size),
        )
        return Checkpoint.objects.create(
            size=head.size,
            root_hash=head.root_hash,
            origin=settings.PREUVES_LOG_ORIGIN,
            note=note,
            created_at=timezone.now(),
            timestamp=token,
        )


# --- Reads ----------------------------------------------------------------------------


def _check_size(size: int, head: TreeHead) -> None:
    if size > head.size:
        raise ApplicationError(
            f"taille {size} supérieure à celle du journal de transparence "
            f"({verifier.count(head.size, 'feuille')})",
            code="log_size",
            status=400,
        )


def inclusion(index: int, size: int) -> dict[str, Any]:
    head = current_head()
    _check_size(size, head)
    if index >= size:
        raise ApplicationError(
            f"rang {index} hors de l'arbre : un arbre de taille {size} a les rangs 0 à {size - 1}"
            if size
            else f"rang {index} hors de l'arbre : l'arbre de taille 0 est vide",
            code="log_index",
        )
    leaf = merkle.key(0, index)
    fetched: dict[int, bytes] = {}

    def nodes_and_leaf(node_keys: Iterable[int]) -> dict[int, bytes]:
        fetched.update(db_nodes([*node_keys, leaf]))  # one query for the proof and the leaf
        return fetched

    proof = merkle.inclusion_proof(index, size, nodes_and_leaf)
    if leaf not in fetched:  # a tree of one leaf has an empty proof
        fetched.update(db_nodes([leaf]))
    return {
        "index": index,
        "size": size,
        "leaf_hash": fetched[leaf].hex(),
        "proof": [h.hex() for h in proof],
    }


def consistency(first: int, second: int) -> dict[str, Any]:
    head = current_head()
    if first < 1:
        raise ApplicationError("first doit être au moins 1 (RFC 9162 §2.1.4)", code="log_range")
    if first > second:
        raise ApplicationError(
            f"first ({first}) doit être inférieur ou égal à second ({second})", code="log_range"
        )
    _check_size(second, head)
    return {
        "first": first,
        "second": second,
        "proof": [h.hex() for h in merkle.consistency_proof(first, second, db_nodes)],
    }


def leaf_json(leaf: LogLeaf) -> dict[str, Any]:
    data = bytes(leaf.data)
    return {
        "index": leaf.index,
        "leaf_hash": bytes(leaf.leaf_hash).hex(),
        "data": base64.b64encode(data).decode(),
        "json": json.loads(data),
    }


def leaves(start: int, end: int) -> list[dict[str, Any]]:
    head = current_head()
    if start < 0 or end < start:
        raise ApplicationError(
            f"intervalle [{start}, {end}) invalide : start doit être ≤ end", code="log_range"
        )
    _check_size(end, head)
    if end - start > settings.PREUVES_LOG_MAX_LEAVES:
        raise ApplicationError(
            f"au plus {verifier.count(settings.PREUVES_LOG_MAX_LEAVES, 'feuille')} par requête "
            f"({end - start} demandées)",
            code="log_range",
        )
    return [leaf_json(leaf) for leaf in LogLeaf.objects.filter(index__gte=start, index__lt=end)]


def checkpoint_json(point: Checkpoint) -> dict[str, Any]:
    token = point.timestamp
    return {
        "origin": point.origin,
        "size": point.size,
        "root_hash": bytes(point.root_hash).hex(),
        "note": point.note,
        "created_at": point.created_at.isoformat(timespec="milliseconds"),
        "timestamp": (
            {"tsr": base64.b64encode(bytes(token.response)).decode(), "gen_time": token.gen_time.isoformat()}
            if token
            else None
        ),
        # Witnesses' cosignatures of this checkpoint (C2SP tlog-cosignature), as note lines.
        "cosignatures": [c.line for c in point.cosignatures.order_by("witness", "key_id")],
    }


def bundle(index: int, *, point: Checkpoint | None = None, token=None) -> dict[str, Any]:
    """The proof bundle of one leaf, which `python preuves/verifier.py` checks offline."""
    leaf = LogLeaf.objects.filter(index=index).first()
    if leaf is None:
        raise ApplicationError(
            f"aucune feuille de rang {index} dans le journal de transparence", code="log_index"
        )
    point = point or checkpoint(covering=index + 1)
    if token is None:
        digest = json.loads(bytes(leaf.data)).get("timestamp_sha256")
        if digest:
            token = TimestampToken.objects.filter(response_sha256=digest).first()
    material = keys.material()
    return {
        "format": "marches-ouverts/preuve/1",
        "leaf": {"index": leaf.index, "data": base64.b64encode(bytes(leaf.data)).decode()},
        "inclusion": inclusion(index, point.size),
        "checkpoint": checkpoint_json(point),
        "timestamp": {"tsr": base64.b64encode(bytes(token.response)).decode()} if token else None,
        "log_public_key": material.log_public_key_pem,
        "tsa_ca": timestamps.ca_pem(),
    }


def leaf_digest_fields(token) -> dict[str, str]:
    """What a leaf records of the token over its subject: the verifier binds both."""
    return {
        "digest": token.hashed_message,
        "timestamp_sha256": hashlib.sha256(bytes(token.response)).hexdigest(),
    }


def attestation_pdf(point: Checkpoint) -> bytes:
    """A checkpoint as a sealed PDF: its fields, the signed note and the timestamp, with the
    platform's PAdES seal. What an operator files, or hands to an auditor, for a given size."""
    from . import pdf

    material = keys.material()
    token = point.timestamp
    sections = [
        pdf.Section(
            heading="Point de contrôle",
            paragraphs=[
                (
                    "Ce document atteste l'état du journal de transparence de la plateforme à la date "
                    "indiquée. Toute preuve d'inclusion délivrée pour cette taille mène à la racine "
                    "ci-dessous ; toute taille ultérieure doit la prolonger (preuve de cohérence)."
                )
            ],
            rows=[
                ("Origine", point.origin),
                ("Taille", verifier.count(point.size, "feuille")),
                ("Racine (SHA-256)", bytes(point.root_hash).hex()),
                ("Signé le", pdf.paris_time(point.created_at)),
                ("Clé du journal (SHA-256)", material.log_key_fingerprint),
            ],
        ),
        pdf.Section(heading="Note signée (C2SP)", paragraphs=[point.note]),
    ]
    if token is not None:
        sections.append(
            pdf.Section(
                heading="Horodatage (RFC 3161)",
                rows=[
                    ("Date du jeton", pdf.paris_time(token.gen_time, milliseconds=True)),
                    ("Autorité", token.tsa_name),
                    ("Numéro de série", token.serial_number),
                    ("Empreinte horodatée", token.hashed_message),
                ],
            )
        )
    sections.append(
        pdf.Section(
            heading="Vérifier",
            paragraphs=[
                (
                    f"GET /preuves/log/checkpoint?size={point.size} donne ce point de contrôle ; "
                    "python preuves/verifier.py --consistency ANCIEN.json NOUVEAU.json PREUVE.json "
                    "vérifie qu'un point ultérieur le prolonge."
                )
            ],
        )
    )
    document = pdf.render(
        title=f"Attestation du journal de transparence — taille {point.size}",
        subject=f"Point de contrôle {point.origin}",
        sections=sections,
        reference=f"journal-{point.size}",
    )
    return pdf.seal(document)


def append_deposit(facts: dict[str, Any], *, tag_key: bytes) -> tuple[LogLeaf, bytes]:
    """Append a deposit leaf, inside the caller's transaction. The leaf publishes only its
    type, the minute of reception, a commitment to `facts` under a fresh 32-byte nonce, and
    a tag that `tag_key` (the consultation's, published with its opening minutes) ties to the
    consultation (verifier.deposit_leaf). Returns the leaf and the nonce: only the receipt
    and the deposit's row keep it."""
    import secrets  # here rather than at the top: this helper is the only user

    nonce = secrets.token_bytes(verifier.NONCE_BYTES)
    return append("deposit", verifier.deposit_leaf(facts, nonce, tag_key)), nonce
