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
import binascii
import datetime as dt
import http.client
import json
import re
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
_HASH_HEX = re.compile(r"[0-9a-f]{64}")


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
        # A log that renames itself would start a fresh record from size 0, and so get a
        # rewritten history cosigned: its key, once pinned, stays with its first origin.
        raw = verifier._raw_key(offered)
        for other, vkey in WitnessedLog.objects.values_list("origin", "log_key"):
            if verifier._raw_key(verifier.parse_log_vkey(vkey)[1]) == raw:
                raise WitnessError(
                    f"la clé de ce journal est déjà épinglée pour l'origine « {other} », pas « {origin} » : "
                    "un journal ne change pas d'origine",
                    status=403,
                    code="renamed_log",
                )
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
#
# Everything the observed log serves is an adversary's input: its answers are read within
# bounds, checked for shape, and any surprise is an ApplicationError in French. Nothing is
# cosigned before every check has passed, the new leaves' included.

MAX_RESPONSE_BYTES = 16 * 1024 * 1024


class _SameHostRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect on the log's own host only (http → https included): the witness
    talks to the address its operator gave, not wherever the log sends it."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if urllib.parse.urlsplit(newurl).hostname != urllib.parse.urlsplit(req.full_url).hostname:
            fp.close()
            raise ApplicationError(
                f"{req.full_url} redirige vers un autre hôte ({newurl[:200]}) : refusé", code="redirect"
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_SameHostRedirects)


def _fetch(url: str, *, data: bytes | None = None, content_type: str = "") -> tuple[int, bytes]:
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ApplicationError(f"adresse http(s):// attendue, pas « {url[:200]} »", code="unreachable")
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")  # noqa: S310
    if content_type:
        request.add_header("Content-Type", content_type)
    try:
        with _OPENER.open(request, timeout=30) as response:
            body = response.read(MAX_RESPONSE_BYTES + 1)
            status = response.status
    except urllib.error.HTTPError as exc:
        with exc:
            try:
                return exc.code, exc.read(1024 * 1024)
            except (OSError, http.client.HTTPException):
                return exc.code, b""
    except (urllib.error.URLError, TimeoutError, OSError, http.client.HTTPException, ValueError) as exc:
        # HTTPException: an answer that is not HTTP (BadStatusLine), or cut short (IncompleteRead).
        raise ApplicationError(
            f"{url} ne répond pas correctement : {getattr(exc, 'reason', None) or type(exc).__name__}",
            code="unreachable",
        ) from None
    if len(body) > MAX_RESPONSE_BYTES:
        raise ApplicationError(f"{url} : réponse de plus de {MAX_RESPONSE_BYTES} octets", code="log_answer")
    return status, body


def _json_or_none(body: bytes):
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def _get_json(url: str) -> dict:
    status, body = _fetch(url)
    data = _json_or_none(body)
    if status == 200 and isinstance(data, dict):
        return data
    error = data.get("error") if isinstance(data, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    detail = message[:300] if isinstance(message, str) else ""
    if status == 200:
        detail = "réponse illisible : un objet JSON est attendu"
    raise ApplicationError(f"{url} : HTTP {status} {detail}".strip(), code="log_http")


def _log_answer(url: str, what: str) -> ApplicationError:
    return ApplicationError(f"{url} : {what}", code="log_answer", status=502)


def _consistency_proof(base: str, first: int, second: int) -> list[bytes]:
    url = f"{base}/preuves/log/consistency?first={first}&second={second}"
    proof = _get_json(url).get("proof")
    if (
        not isinstance(proof, list)
        or len(proof) > MAX_PROOF_LINES
        or not all(isinstance(h, str) and _HASH_HEX.fullmatch(h) for h in proof)
    ):
        raise _log_answer(
            url, f"preuve de cohérence illisible (au plus {MAX_PROOF_LINES} empreintes hexadécimales)"
        )
    return [bytes.fromhex(h) for h in proof]


def _leaf_hashes(base: str, start: int, end: int):
    """The leaf hashes [start, end) of the log at `base`, recomputed from the leaves' data."""
    step = settings.PREUVES_LOG_MAX_LEAVES
    offset = start
    while offset < end:
        asked = min(end, offset + step) - offset
        url = f"{base}/preuves/log/leaves?start={offset}&end={offset + asked}"
        leaves = _get_json(url).get("leaves")
        if not isinstance(leaves, list) or not leaves or len(leaves) > asked:
            raise _log_answer(url, f"liste de 1 à {asked} feuilles attendue")
        for leaf in leaves:
            data = leaf.get("data") if isinstance(leaf, dict) else None
            try:
                raw = base64.b64decode(data, validate=True) if isinstance(data, str) else None
            except (binascii.Error, ValueError):
                raw = None
            if raw is None:
                raise _log_answer(url, f"feuille n° {offset} illisible (champ « data » en base64 attendu)")
            yield merkle.leaf_hash(raw)
            offset += 1


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
    saying where the histories diverge when the log does not extend what was cosigned, and
    an ApplicationError for any answer of the log that is not what it should be."""
    base = base_url.rstrip("/")
    latest = _get_json(f"{base}/preuves/log/checkpoint")
    try:
        point = verifier.parse_checkpoint(latest)
    except verifier.VerificationError as exc:
        raise WitnessError(f"point de contrôle illisible : {exc}", status=400) from None
    state = WitnessedLog.objects.filter(origin=point.origin).first()
    old = state.size if state else 0
    try:
        verifier.verify_checkpoint_signature(point, _log_key(point.origin, state, log_key))
    except verifier.VerificationError as exc:
        raise WitnessError(f"point de contrôle refusé : {exc}", status=403, code="signature") from None
    if point.size < old:
        raise WitnessError(
            f"fourche : le journal « {point.origin} » ne présente plus que {point.size} feuilles, "
            f"ce témoin en a contresigné {old} (journal tronqué). {_locate(base, state)}",
            status=409,
            code="fork",
        )
    proof = _consistency_proof(base, old, point.size) if 0 < old < point.size else []
    frontier = _checked_frontier(base, state, point, proof)
    body = (
        f"old {old}\n" + "".join(base64.b64encode(h).decode() + "\n" for h in proof) + "\n" + point.note
    ).encode()
    try:
        line = add_checkpoint(body, log_key=log_key)
    except WitnessError as exc:
        if exc.code == "fork" and state is not None:
            raise WitnessError(
                f"{exc.message}. {_locate(base, state)}", status=exc.status, code="fork"
            ) from None
        raise
    if frontier is not None:
        WitnessedLog.objects.filter(origin=point.origin, size=point.size, root_hash=point.root).update(
            frontier=[h.hex() for h in frontier]
        )
    refusal = ""
    try:
        status, answer = _fetch(
            f"{base}/preuves/log/cosignatures?size={point.size}",
            data=line.encode(),
            content_type="text/plain",
        )
    except ApplicationError as exc:
        status, answer, refusal = 0, b"", exc.message
    if status != 201 and not refusal:
        data = _json_or_none(answer)
        error = data.get("error") if isinstance(data, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        refusal = message[:300] if isinstance(message, str) else f"HTTP {status}"
    return WitnessOutcome(point.origin, point.size, line.strip(), refusal)


def _checked_frontier(
    base: str, before: WitnessedLog | None, point: verifier.Checkpoint, proof: list[bytes]
) -> list[bytes] | None:
    """Before anything is cosigned: the new leaves, rehashed from their data, must extend
    the kept subtrees to the signed root — a second, independent check of consistency, and
    what later locates a divergence. Returns the new frontier, or None when there is none
    to extend (the witness then cosigns on consistency proofs alone) or nothing new."""
    old = before.size if before else 0
    if before is not None and old == point.size:
        return None  # nothing new; add_checkpoint compares the roots
    if before is not None and old:
        try:
            verifier.verify_consistency(old, point.size, bytes(before.root_hash), point.root, proof)
        except verifier.VerificationError:
            return None  # a fork: add_checkpoint refuses it, and it is located
        if before.frontier is None:
            return None
    if point.size - old > MAX_MIRRORED_LEAVES:
        return None
    kept = [bytes.fromhex(h) for h in before.frontier] if before and before.frontier else []
    frontier = _extend_frontier(base, kept, old, point.size)
    if merkle.fold(frontier) != point.root:
        located = f" {_locate(base, before)}" if before is not None else ""
        raise WitnessError(
            f"fourche : les feuilles n° {old} à {point.size - 1} servies par le journal ne donnent pas "
            f"la racine qu'il a signée pour la taille {point.size}.{located}",
            status=422,
            code="fork",
        )
    return frontier


def _locate(base: str, state: WitnessedLog) -> str:
    """Where the log's present history departs from the one cosigned: the published root for
    the cosigned size, then the first complete subtree of that tree whose leaves changed.
    Never raises: what the log serves here is as untrusted as the rest."""
    findings = []
    try:
        status, body = _fetch(f"{base}/preuves/log/checkpoint?size={state.size}")
    except ApplicationError as exc:
        status, body = 0, b""
        findings.append(exc.message)
    if status == 200:
        try:
            republished = verifier.parse_checkpoint(_json_or_none(body))
            if republished.root != bytes(state.root_hash):
                findings.append(
                    f"pour la taille {state.size}, le journal publie désormais la racine "
                    f"{republished.root.hex()}, "
                    f"ce témoin avait contresigné {bytes(state.root_hash).hex()}"
                )
        except verifier.VerificationError:
            pass
    elif status:
        findings.append(f"Le journal ne publie plus de point de contrôle pour la taille {state.size}")
    if state.frontier is not None and state.size <= MAX_MIRRORED_LEAVES:
        start = 0
        try:
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
                findings.append(
                    f"les {state.size} premières feuilles sont intactes : la divergence est après"
                )
        except ApplicationError as exc:
            findings.append(f"feuilles non relues ({exc.message})")
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
    # Every line is judged before any is stored: a refused post stores nothing.
    checked = []
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
        checked.append((witness, signature, signed_at))
    stored = []
    for witness, signature, signed_at in checked:
        line = f"{verifier.EM_DASH} {signature[0]} {base64.b64encode(signature[1] + signature[2]).decode()}"
        with transaction.atomic():
            cosignature, created = Cosignature.objects.get_or_create(
                checkpoint=point,
                witness=witness.name,
                key_id=witness.key_id.hex(),
                defaults={"line": line, "signed_at": signed_at, "received_at": timezone.now()},
            )
            if created:
                journal.record(
                    "log.cosignature",
                    target=point,
                    payload={"witness": witness.name, "size": point.size},
                )
        stored.append(cosignature)
    return stored
