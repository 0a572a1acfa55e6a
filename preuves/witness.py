"""Witnesses: outside copies of the log's history that its operator cannot rewrite.

An operator holding every key of the platform (the log's signing key and, with the
embedded authority, the TSA's) could rebuild a rewritten log whose checkpoints all verify.
A witness defeats that: another party (another buyer's instance of this platform, a
bidders' association) records the latest checkpoint it saw of the log and cosigns a new one
only if it extends that one. A rewritten history then either lacks the witnesses'
cosignatures, or contradicts a checkpoint they already cosigned.

Formats are the transparency-log ecosystem's, so that any witness of that ecosystem can
serve and any verifier can check:
- C2SP tlog-witness: `add_checkpoint()` takes and answers its `add-checkpoint` body (old
  size line, consistency proof lines, empty line, signed checkpoint) with its status codes,
  and is served at POST /preuves/temoin/add-checkpoint;
- C2SP tlog-cosignature: Ed25519 `cosignature/v1` note signature lines (preuves/verifier.py).

`witness_log(base_url)` is the pull side, what `manage.py preuves witness BASE_URL` runs:
it fetches the log's latest checkpoint and the consistency proof from what it last cosigned,
submits them to `add_checkpoint()` here, checks the new leaves against the hashes of the
complete subtrees it keeps (its frontier), and posts the cosignature back to the log. When
the log no longer extends what was cosigned, it says where the histories diverge.

The log side: `accept_cosignatures()` checks lines from the configured witnesses
(PREUVES_WITNESSES) against a published checkpoint and stores them, published beside it.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from config.errors import ApplicationError

from . import journal, keys, merkle, verifier
from .models import Checkpoint, Cosignature, WitnessedLog

SIZE_TYPE = "text/x.tlog.size"
MAX_PROOF_LINES = 63
MAX_RECORDED_SIZE = 2**63 - 1  # the database's bigint
MAX_ORIGIN_CHARS = WitnessedLog._meta.get_field("origin").max_length
# How many leaves the pull side fetches to keep its frontier, or to locate a divergence.
MAX_MIRRORED_LEAVES = 200_000


class WitnessError(ApplicationError):
    """A refusal of add-checkpoint, with the HTTP status C2SP tlog-witness gives it."""

    def __init__(self, message: str, *, status: int, code: str = "witness", size: int | None = None) -> None:
        super().__init__(message, code=code, status=status)
        self.size = size


# --- This platform as a witness -------------------------------------------------------------


def own_witness() -> verifier.Witness:
    return verifier.Witness(settings.PREUVES_WITNESS_NAME, keys.material().witness_key.public_key())


def _configured_logs() -> dict[str, Ed25519PublicKey]:
    logs = {}
    for vkey in settings.PREUVES_WITNESSED_LOGS:
        origin, key = verifier.parse_log_vkey(vkey)
        logs[origin] = key
    return logs


def _log_key(origin: str, state: WitnessedLog | None, offered: Ed25519PublicKey | None) -> Ed25519PublicKey:
    """The key this witness trusts for `origin`: configured, else pinned at the first
    cosignature (from the key the operator of the witness gave then)."""
    configured = _configured_logs().get(origin)
    if configured is not None:
        return configured
    if state is not None:
        return verifier.parse_log_vkey(state.log_key)[1]
    if offered is not None:
        return offered
    raise WitnessError(f"journal « {origin} » inconnu de ce témoin", status=404, code="unknown_log")


@dataclass(frozen=True)
class Submission:
    old_size: int
    proof: list[bytes]
    checkpoint: verifier.Checkpoint


def parse_submission(body: bytes) -> Submission:
    """The add-checkpoint body: `old N`, proof lines, an empty line, the signed checkpoint."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WitnessError("requête illisible : UTF-8 attendu", status=400) from None
    head, separator, note = text.partition("\n\n")
    if not separator:
        raise WitnessError("requête mal formée : ligne vide attendue avant le point de contrôle", status=400)
    lines = head.split("\n")
    first = lines[0]
    if not first.startswith("old ") or not verifier._DECIMAL.fullmatch(first[4:]):
        raise WitnessError("requête mal formée : la première ligne doit être « old TAILLE »", status=400)
    # Before int(): Python refuses to read more than 4300 digits.
    if len(first) - 4 > 20 or int(first[4:]) > verifier.MAX_TREE_SIZE:
        raise WitnessError("requête mal formée : la taille de « old » dépasse 2^64 − 1", status=400)
    if len(lines) - 1 > MAX_PROOF_LINES:
        raise WitnessError(f"au plus {MAX_PROOF_LINES} lignes de preuve de cohérence", status=400)
    try:
        proof = [verifier._b64(line, "une ligne de la preuve de cohérence") for line in lines[1:]]
        if any(len(h) != 32 for h in proof):
            raise verifier.VerificationError("chaque ligne de preuve doit être une empreinte de 32 octets")
        checkpoint = verifier.parse_checkpoint_note(note)
    except verifier.VerificationError as exc:
        raise WitnessError(f"requête mal formée : {exc}", status=400) from None
    # What this witness's record can hold: a uint64 beyond the database's bigint, or an
    # origin longer than its column, would be a database error instead of a refusal.
    if checkpoint.size > MAX_RECORDED_SIZE:
        raise WitnessError(
            f"taille {checkpoint.size} hors de ce que ce témoin enregistre (au plus {MAX_RECORDED_SIZE})",
            status=400,
        )
    if checkpoint.size == 0 and checkpoint.root != verifier.EMPTY_ROOT:
        raise WitnessError("un arbre vide a pour racine SHA-256 de la chaîne vide", status=400)
    if len(checkpoint.origin) > MAX_ORIGIN_CHARS:
        raise WitnessError(
            f"origine du journal de {len(checkpoint.origin)} caractères, {MAX_ORIGIN_CHARS} au plus",
            status=400,
        )
    return Submission(int(first[4:]), proof, checkpoint)


def add_checkpoint(body: bytes, *, log_key: Ed25519PublicKey | None = None) -> str:
    """C2SP tlog-witness add-checkpoint: verify, record atomically, return the cosignature
    line. `log_key` pins the key of a log seen for the first time (pull side only)."""
    submission = parse_submission(body)
    try:
        return _add_checkpoint(submission, log_key)
    except IntegrityError:
        # Another add-checkpoint recorded this log first (both saw no record): the record
        # now exists, and the submission is judged against it, under its lock.
        return _add_checkpoint(submission, log_key)


def _add_checkpoint(submission: Submission, log_key: Ed25519PublicKey | None) -> str:
    point = submission.checkpoint
    with transaction.atomic():
        # The check of the old size and the new record are one step (the spec's race).
        state = WitnessedLog.objects.select_for_update().filter(origin=point.origin).first()
        key = _log_key(point.origin, state, log_key)
        try:
            verifier.verify_checkpoint_signature(point, key)
        except verifier.VerificationError as exc:
            raise WitnessError(f"point de contrôle refusé : {exc}", status=403, code="signature") from None
        if submission.old_size > point.size:
            raise WitnessError(
                f"taille précédente {submission.old_size} supérieure à la taille {point.size}", status=400
            )
        current = state.size if state else 0
        if submission.old_size != current:
            raise WitnessError(
                f"ce témoin a contresigné en dernier la taille {current}, pas {submission.old_size}",
                status=409,
                code="old_size",
                size=current,
            )
        if state is not None and (submission.old_size > 0 or point.size == 0):
            _check_extends(state, submission)
        elif submission.proof:
            # Any tree extends the empty one, and RFC 9162 has no proof from size 0.
            raise WitnessError("la preuve de cohérence doit être vide depuis la taille 0", status=422)
        timestamp = int(time.time())
        witness_key = keys.material().witness_key
        signature = witness_key.sign(verifier.cosigned_message(point.body, timestamp))
        line = verifier.cosignature_line(
            settings.PREUVES_WITNESS_NAME, own_witness().raw_key, timestamp, signature
        )
        now = timezone.now()
        if state is None:
            # A concurrent first record makes this one an IntegrityError (unique origin),
            # retried by add_checkpoint against the record that won.
            state = WitnessedLog.objects.create(
                origin=point.origin,
                log_key=verifier.log_vkey(point.origin, key),
                size=point.size,
                root_hash=point.root,
                note=point.note,
                frontier=[] if point.size == 0 else None,
                updated_at=now,
            )
        elif (state.size, bytes(state.root_hash)) != (point.size, point.root):
            state.size, state.root_hash, state.note, state.updated_at = (
                point.size,
                point.root,
                point.note,
                now,
            )
            state.frontier = None  # extended by the pull side once it has checked the new leaves
            state.save(update_fields=["size", "root_hash", "note", "frontier", "updated_at"])
        journal.record(
            "witness.cosigned",
            payload={"origin": point.origin, "size": point.size, "root_hash": point.root.hex()},
        )
    return line + "\n"


def _check_extends(state: WitnessedLog, submission: Submission) -> None:
    point, old_root = submission.checkpoint, bytes(state.root_hash)
    if submission.old_size == point.size:
        if submission.proof:
            raise WitnessError(
                "entre deux arbres de même taille la preuve de cohérence doit être vide", status=422
            )
        if point.root != old_root:
            raise WitnessError(
                f"fourche : pour la taille {point.size}, la racine présentée {point.root.hex()} diffère de "
                f"celle que ce témoin a contresignée ({old_root.hex()})",
                status=409,
                code="fork",
                size=state.size,
            )
        return
    try:
        verifier.verify_consistency(submission.old_size, point.size, old_root, point.root, submission.proof)
    except verifier.VerificationError as exc:
        raise WitnessError(
            f"fourche : l'arbre de {point.size} feuilles ne prolonge pas celui de {submission.old_size} "
            f"feuilles que ce témoin a contresigné (racine {old_root.hex()}) : {exc}",
            status=422,
            code="fork",
        ) from None


# --- The pull side: `manage.py preuves witness BASE_URL` ------------------------------------


def _fetch(url: str, *, data: bytes | None = None, content_type: str = "") -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")  # noqa: S310
    if content_type:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (the operator's URL)
            return response.status, response.read(16 * 1024 * 1024)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(1024 * 1024)
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise ApplicationError(
            f"{url} ne répond pas : {getattr(exc, 'reason', exc)}", code="unreachable"
        ) from None


def _get_json(url: str) -> dict:
    status, body = _fetch(url)
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if status != 200 or not isinstance(data, dict):
        message = data.get("error", {}).get("message") if isinstance(data, dict) else None
        raise ApplicationError(f"{url} : HTTP {status} {message or ''}".strip(), code="log_http")
    return data


def _leaf_hashes(base: str, start: int, end: int):
    """The leaf hashes [start, end) of the log at `base`, recomputed from the leaves' data."""
    step = settings.PREUVES_LOG_MAX_LEAVES
    for offset in range(start, end, step):
        page = _get_json(f"{base}/preuves/log/leaves?start={offset}&end={min(end, offset + step)}")
        for leaf in page.get("leaves", []):
            yield merkle.leaf_hash(base64.b64decode(leaf["data"]))


def _extend_frontier(base: str, frontier: list[bytes], start: int, end: int) -> list[bytes]:
    for index, digest in enumerate(_leaf_hashes(base, start, end), start):
        _, frontier = merkle.append_nodes(index, frontier, digest)
    return frontier


@dataclass(frozen=True)
class WitnessOutcome:
    origin: str
    size: int
    line: str
    refusal: str  # why the log did not take the cosignature back ("" when it did)


def witness_log(base_url: str, *, log_key: Ed25519PublicKey | None = None) -> WitnessOutcome:
    """Fetch, check, cosign and hand back the log's latest checkpoint. Raises WitnessError
    saying where the histories diverge when the log does not extend what was cosigned."""
    base = base_url.rstrip("/")
    latest = _get_json(f"{base}/preuves/log/checkpoint")
    try:
        point = verifier.parse_checkpoint(latest)
    except verifier.VerificationError as exc:
        raise WitnessError(f"point de contrôle illisible : {exc}", status=400) from None
    state = WitnessedLog.objects.filter(origin=point.origin).first()
    old = state.size if state else 0
    proof: list[str] = []
    if state is not None and 0 < old < point.size:
        proof = _get_json(f"{base}/preuves/log/consistency?first={old}&second={point.size}")["proof"]
    body = (
        f"old {old}\n"
        + "".join(base64.b64encode(bytes.fromhex(h)).decode() + "\n" for h in proof)
        + "\n"
        + point.note
    ).encode()
    try:
        line = add_checkpoint(body, log_key=log_key)
    except WitnessError as exc:
        if exc.code == "fork" and state is not None:
            raise WitnessError(
                f"{exc.message}. {_locate(base, state)}", status=exc.status, code="fork"
            ) from None
        raise
    _keep_frontier(base, state, point)
    status, answer = _fetch(
        f"{base}/preuves/log/cosignatures?size={point.size}", data=line.encode(), content_type="text/plain"
    )
    refusal = ""
    if status != 201:
        try:
            refusal = json.loads(answer)["error"]["message"]
        except (ValueError, KeyError, TypeError):
            refusal = f"HTTP {status}"
    return WitnessOutcome(point.origin, point.size, line.strip(), refusal)


def _keep_frontier(base: str, before: WitnessedLog | None, point: verifier.Checkpoint) -> None:
    """Check the new leaves against the kept subtrees and keep the new frontier: a second,
    independent check of consistency, and what later locates a divergence."""
    state = WitnessedLog.objects.get(origin=point.origin)
    if state.frontier is not None:
        return
    old = before.size if before else 0
    frontier = [bytes.fromhex(h) for h in before.frontier] if before and before.frontier is not None else None
    if frontier is None and old:
        return  # nothing to extend from: the witness cosigns on consistency proofs alone
    if point.size - old > MAX_MIRRORED_LEAVES:
        return
    frontier = _extend_frontier(base, frontier or [], old, point.size)
    if merkle.fold(frontier) != point.root:
        raise WitnessError(
            f"les feuilles {old} à {point.size - 1} servies par le journal ne donnent pas "
            "la racine qu'il a signée",
            status=422,
            code="fork",
        )
    WitnessedLog.objects.filter(pk=state.pk, size=point.size).update(frontier=[h.hex() for h in frontier])


def _locate(base: str, state: WitnessedLog) -> str:
    """Where the log's present history departs from the one cosigned: the published root for
    the cosigned size, then the first complete subtree of that tree whose leaves changed."""
    findings = []
    status, body = _fetch(f"{base}/preuves/log/checkpoint?size={state.size}")
    if status == 200:
        try:
            republished = verifier.parse_checkpoint(json.loads(body))
            if republished.root != bytes(state.root_hash):
                findings.append(
                    f"pour la taille {state.size}, le journal publie désormais la racine "
                    f"{republished.root.hex()}, "
                    f"ce témoin avait contresigné {bytes(state.root_hash).hex()}"
                )
        except (ValueError, verifier.VerificationError):
            pass
    else:
        findings.append(f"Le journal ne publie plus de point de contrôle pour la taille {state.size}")
    if state.frontier is not None and state.size <= MAX_MIRRORED_LEAVES:
        start = 0
        for (level, _position), kept in zip(merkle.decompose(0, state.size), state.frontier, strict=True):
            end = start + (1 << level)
            recomputed = []
            for index, digest in enumerate(_leaf_hashes(base, start, end), start):
                _, recomputed = merkle.append_nodes(index - start, recomputed, digest)
            if merkle.fold(recomputed) != bytes.fromhex(kept):
                findings.append(
                    f"les feuilles n° {start} à {end - 1} ont été réécrites depuis la contresignature"
                )
                break
            start = end
        else:
            findings.append(f"les {state.size} premières feuilles sont intactes : la divergence est après")
    return " ; ".join(findings) if findings else "divergence non localisée"


# --- The log side: cosignatures received from the configured witnesses ----------------------


def configured_witnesses() -> list[verifier.Witness]:
    return [verifier.parse_witness_key(vkey) for vkey in settings.PREUVES_WITNESSES]


def accept_cosignatures(size: int, text: str) -> list[Cosignature]:
    """Store the valid cosignatures among `text`'s lines for the checkpoint of `size`."""
    point = Checkpoint.objects.filter(size=size).first()
    if point is None:
        raise ApplicationError(
            f"aucun point de contrôle publié pour la taille {size}", code="not_found", status=404
        )
    try:
        _, signatures = verifier._parse_note("x\n\n" + text.strip("\n") + "\n")
    except verifier.VerificationError as exc:
        raise ApplicationError(f"contresignature mal formée : {exc}", code="cosignature") from None
    body = verifier.note_body(point.origin, point.size, bytes(point.root_hash))
    known = {(w.name, w.key_id): w for w in configured_witnesses()}
    stored = []
    for signature in signatures:
        witness = known.get((signature[0], signature[1]))
        if witness is None:
            raise ApplicationError(
                f"témoin « {signature[0]} » inconnu de cette plateforme (réglage PREUVES_WITNESSES)",
                code="unknown_witness",
                status=403,
            )
        try:
            moment = verifier.verify_cosignature(body, signature, witness)
            signed_at = dt.datetime.fromtimestamp(moment, tz=dt.UTC)
        except verifier.VerificationError as exc:
            raise ApplicationError(str(exc), code="cosignature") from None
        except (ValueError, OverflowError, OSError):  # beyond year 9999, or the platform's time_t
            raise ApplicationError(
                f"contresignature de « {witness.name} » : horodatage {moment} hors des dates représentables",
                code="cosignature",
            ) from None
        line = f"{verifier.EM_DASH} {signature[0]} {base64.b64encode(signature[1] + signature[2]).decode()}"
        with transaction.atomic():
            cosignature, created = Cosignature.objects.get_or_create(
                checkpoint=point,
                witness=witness.name,
                key_id=witness.key_id.hex(),
                defaults={
                    "line": line,
                    "signed_at": signed_at,
                    "received_at": timezone.now(),
                },
            )
            if created:
                journal.record(
                    "log.cosignature",
                    target=point,
                    payload={"witness": witness.name, "size": point.size},
                )
        stored.append(cosignature)
    return stored
