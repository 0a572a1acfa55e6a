"""The full verification of the evidence: `manage.py preuves verify` (and `journal verify`).

It trusts no stored hash. In one pass over the log, in index order, it recomputes every
leaf hash from the leaf's data, rebuilds the tree (the hashes of the complete subtrees, as
preuves/merkle.py stores them) and compares every stored subtree, the head, and the root
of every stored checkpoint at its size — so consecutive checkpoints are consistent because
both are recomputed from the same leaves, a stronger check than a consistency proof read
from the stored subtrees. Each checkpoint's Ed25519 note signature and RFC 3161 token are
checked with the standalone verifier's functions, and each witness cosignature against the
configured witness keys. Then the journal's chain is walked (preuves/journal.py) and every
anchor published in the log must name an entry of the recomputed chain, with a token over
its hash.

Memory stays bounded whatever the size: leaves, nodes, checkpoints and entries are read
as streams, the tree is held as its frontier (at most 64 hashes), node comparisons are
batched, and only the first MAX_PROBLEMS problems are kept (the rest are counted).

What it cannot see: a rewrite by someone holding every key who also rebuilt the tree and
re-signed every checkpoint. Outside copies catch that — receipts (`verifier.py --log`) and
witnesses' cosignatures (preuves/witness.py) — which is why both exist.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field

from . import journal, keys, log, merkle, timestamps, verifier, witness
from .models import Checkpoint, LogLeaf, LogNode, TimestampToken

MAX_PROBLEMS = 50
LEAF_CHUNK = 2000
NODE_BATCH = 4000
ANCHOR_KIND = "journal.head"
MAX_SEQ = 2**63 - 1


@dataclass
class AuditReport:
    leaves: int = 0
    nodes: int = 0
    checkpoints: int = 0
    cosignatures: int = 0
    entries: int = 0
    anchors: int = 0
    tokens: int = 0
    problems: list[str] = field(default_factory=list)
    more_problems: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, message: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(message)
        else:
            self.more_problems += 1


def _describe_node(node_key: int) -> str:
    level, position = node_key & 63, node_key >> 6
    start = position << level
    return f"nœud {position}@{level} (feuilles n° {start} à {start + (1 << level) - 1})"


class _TreeCheck:
    def __init__(self, report: AuditReport) -> None:
        self.report = report
        self.pending: dict[int, bytes] = {}

    def add(self, created: list[tuple[int, bytes]]) -> None:
        self.pending.update(created)
        if len(self.pending) >= NODE_BATCH:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        stored = log.db_nodes(self.pending)
        for node_key, digest in self.pending.items():
            found = stored.get(node_key)
            if found is None:
                self.report.problem(f"{_describe_node(node_key)} absent de la base")
            elif found != digest:
                self.report.problem(
                    f"{_describe_node(node_key)} réécrit : hash enregistré {found.hex()}, "
                    f"recalculé {digest.hex()}"
                )
        self.report.nodes += len(self.pending)
        self.pending.clear()


class _CheckpointCheck:
    def __init__(self, report: AuditReport) -> None:
        self.report = report
        material = keys.material()
        self.log_key = material.log_key.public_key()
        self.ca = timestamps.ca_certificates()
        self.witnesses = witness.configured_witnesses()
        self.points = (
            Checkpoint.objects.select_related("timestamp")
            .prefetch_related("cosignatures")
            .order_by("size")
            .iterator(chunk_size=500)
        )
        self.next = next(self.points, None)

    def at(self, size: int, root: bytes) -> None:
        """Check every stored checkpoint of `size` against the recomputed root."""
        while self.next is not None and self.next.size <= size:
            point, self.next = self.next, next(self.points, None)
            if point.size < size:  # skipped: its size was passed without a tree of that size
                self.report.problem(f"point de contrôle de taille {point.size} : taille hors du journal")
                continue
            self._check(point, root)

    def rest(self, size: int) -> None:
        while self.next is not None:
            self.report.problem(
                f"point de contrôle de taille {self.next.size} : le journal ne compte que {size} feuilles "
                "(feuilles supprimées ?)"
            )
            self.next = next(self.points, None)

    def _check(self, point: Checkpoint, root: bytes) -> None:
        self.report.checkpoints += 1
        what = f"point de contrôle de taille {point.size}"
        if bytes(point.root_hash) != root:
            self.report.problem(
                f"{what} : racine enregistrée {bytes(point.root_hash).hex()}, arbre recalculé {root.hex()} "
                "(feuilles ou point de contrôle réécrits)"
            )
        try:
            parsed = verifier.parse_checkpoint(log.checkpoint_json(point))
            verifier.verify_checkpoint_signature(parsed, self.log_key)
        except verifier.VerificationError as exc:
            self.report.problem(f"{what} : {exc}")
            return
        if point.timestamp is None:
            self.report.problem(f"{what} : sans jeton d'horodatage")
        else:
            try:
                verifier.verify_timestamp(
                    bytes(point.timestamp.response),
                    hashed_message=hashlib.sha256(point.note.encode()).digest(),
                    ca_certs=self.ca,
                )
            except verifier.VerificationError as exc:
                self.report.problem(f"{what} : jeton d'horodatage refusé ({exc})")
        for cosignature in point.cosignatures.all():
            self.report.cosignatures += 1
            known = [
                w
                for w in self.witnesses
                if (w.name, w.key_id.hex()) == (cosignature.witness, cosignature.key_id)
            ]
            if not known:
                self.report.problem(
                    f"{what} : contresignature de « {cosignature.witness} », témoin non configuré"
                )
                continue
            try:
                _, signatures = verifier._parse_note("x\n\n" + cosignature.line + "\n")
                verifier.verify_cosignature(parsed.body, signatures[0], known[0])
            except verifier.VerificationError as exc:
                self.report.problem(f"{what} : {exc}")


def _keep_anchor(report: AuditReport, anchors: dict, index: int, content: dict) -> None:
    """An anchor leaf's fields, kept to be checked against the journal's chain. Every anchor
    of a number is kept: a later anchor of a rewritten entry must not hide the first."""
    seq, published, token_sha = content.get("seq"), content.get("hash"), content.get("timestamp_sha256", "")
    if (
        isinstance(seq, bool)
        or not isinstance(seq, int)
        or not 0 < seq <= MAX_SEQ
        or not isinstance(published, str)
        or not isinstance(token_sha, str)
    ):
        report.problem(
            f"feuille n° {index} : ancrage mal formé (numéro d'entrée entier positif, hash et "
            "timestamp_sha256 en texte attendus)"
        )
        return
    anchors.setdefault(seq, []).append((published, index, token_sha))


def _verify_log(report: AuditReport) -> dict[int, list[tuple[str, int, str]]]:
    """The log pass; returns the anchors it met: journal seq → [(hash, leaf index, token sha)]."""
    tree = _TreeCheck(report)
    points = _CheckpointCheck(report)
    points.at(0, merkle.EMPTY_ROOT)
    anchors: dict[int, list[tuple[str, int, str]]] = {}
    frontier: list[bytes] = []
    expected = 0
    rows = LogLeaf.objects.order_by("index").values_list("index", "kind", "data", "leaf_hash")
    for index, kind, data, stored_hash in rows.iterator(chunk_size=LEAF_CHUNK):
        if index != expected:
            report.problem(
                f"feuille n° {expected} absente (la suivante est la n° {index}) : "
                "le journal n'est plus contigu"
            )
            break
        data = bytes(data)
        digest = merkle.leaf_hash(data)
        if digest != bytes(stored_hash):
            report.problem(
                f"feuille n° {index} : hash enregistré {bytes(stored_hash).hex()}, recalculé {digest.hex()}"
            )
        try:
            content = json.loads(data)
        except (ValueError, RecursionError):
            content = None
        if not isinstance(content, dict):
            report.problem(f"feuille n° {index} : données illisibles (un objet JSON est attendu)")
        elif content.get("type") != kind:
            # The kind column is a copy of the hashed data's type, for queries: it must agree
            # (an anchor stored under another kind would escape the anchors' check).
            found = str(content.get("type"))[:60]
            report.problem(
                f"feuille n° {index} : son type enregistré « {kind} » n'est pas celui de ses données "
                f"(« {found} »)"
            )
        elif kind == ANCHOR_KIND:
            _keep_anchor(report, anchors, index, content)
        created, frontier = merkle.append_nodes(index, frontier, digest)
        tree.add(created)
        expected += 1
        if points.next is not None and points.next.size <= expected:
            points.at(expected, merkle.fold(frontier))
    tree.flush()
    report.leaves = expected
    points.rest(expected)
    stored_nodes = LogNode.objects.count()
    if stored_nodes != report.nodes:
        report.problem(f"{stored_nodes} nœuds enregistrés, {report.nodes} attendus pour {expected} feuilles")
    head = log.current_head()
    root = merkle.fold(frontier) if expected else merkle.EMPTY_ROOT
    if (head.size, head.root_hash) != (expected, root):
        report.problem(
            f"tête du journal de transparence : {head.size} feuilles et racine {head.root_hash.hex()} "
            f"enregistrées, {expected} feuilles et racine {root.hex()} recalculées"
        )
    return anchors


def _verify_tokens(report: AuditReport) -> None:
    """Every stored token is the reply it says it is (its SHA-256 names it in the leaves)."""
    rows = TimestampToken.objects.order_by("id").values_list("id", "response", "response_sha256")
    for token_id, response, sha in rows.iterator(chunk_size=500):
        report.tokens += 1
        if hashlib.sha256(bytes(response)).hexdigest() != sha:
            report.problem(f"jeton d'horodatage n° {token_id} : réponse modifiée (SHA-256 différent)")


def _verify_journal(report: AuditReport, anchors: dict[int, list[tuple[str, int, str]]]) -> None:
    ca = timestamps.ca_certificates()

    def on_entry(seq: int, entry_hash: str) -> None:
        for published, index, token_sha in anchors.pop(seq, ()):
            _check_anchor(seq, entry_hash, published, index, token_sha)

    def _check_anchor(seq: int, entry_hash: str, published: str, index: int, token_sha: str) -> None:
        report.anchors += 1
        if published != entry_hash:
            report.problem(
                f"ancrage de la feuille n° {index} : l'entrée n° {seq} du journal a le hash {entry_hash}, "
                f"le journal de transparence a publié {published[:80]} (journal réécrit)"
            )
            return
        token = TimestampToken.objects.filter(response_sha256=token_sha).only("response").first()
        try:
            if token is None:
                raise verifier.VerificationError("jeton introuvable")
            verifier.verify_timestamp(
                bytes(token.response), hashed_message=bytes.fromhex(published), ca_certs=ca
            )
        except verifier.VerificationError as exc:
            report.problem(f"ancrage de la feuille n° {index} : jeton de l'entrée n° {seq} refusé ({exc})")

    result = journal.verify(on_entry)
    report.entries = result.count
    if not result.ok:
        report.problem(f"journal rompu : {result.error}")
    for seq, kept in sorted(anchors.items()):
        for _, index, _ in kept:
            report.problem(
                f"ancrage de la feuille n° {index} : l'entrée n° {seq} du journal a disparu (journal réécrit)"
            )


def verify_all(progress: Callable[[str], None] | None = None) -> AuditReport:
    """Everything, from the stored data alone. Each problem is named in French."""
    report = AuditReport()
    say = progress or (lambda _message: None)
    say("journal de transparence : feuilles, nœuds, tête et points de contrôle…")
    anchors = _verify_log(report)
    say("jetons d'horodatage…")
    _verify_tokens(report)
    say("journal chaîné et ancrages…")
    _verify_journal(report, anchors)
    return report
