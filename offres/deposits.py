"""Deposit upload sessions: a company opens a deposit, announces its encrypted files, and
sends each one in chunks that any web process may receive, in any number of requests.

- The server receives only ciphertext: the first chunk of each file must hold a well-formed
  age v1 header (offres/age_format.py), or the file is refused there and then.
- Chunks are streamed to storage (one object each: local files or S3), hashed as they pass;
  nothing holds a whole file in memory. A chunk must start exactly where the stored bytes
  end: a chunk out of order or overlapping gets the offset to resume from, so an upload cut
  by a dropped connection or a server restart picks up at the last acknowledged byte.
- The consultation's maximum deposit size bounds the announced sizes, and no file receives
  more than it announced.
- A chunk is acknowledged only once it is durable: on local storage the file and its folder
  are flushed (fsync) before its row commits; a crash before that leaves at most a stray
  object that no row points to, which never counts.
- The file's SHA-256 runs as its chunks stream; its state (OpenSSL's SHA256_CTX,
  offres/digests.py) is saved in the file's row with each chunk, so that whichever process
  receives the next chunk resumes it, and the file is never read back. Where that state is
  unavailable, the chunks are read back in order at completion instead. At completion the
  file's length is also checked against the age format.

Finalisation receives the deposit: reception time under a lock on the consultation,
late flag, a manifest whose digest is timestamped, a leaf of the transparency log that
commits to the deposit's facts without saying any (offres/commitments.py), and the receipt
(offres/receipts.py).

Bounds and clean-up, so that no company reserves the platform's storage without end:
- A company keeps at most DEPOSITS_UNFINISHED_MAX deposits in progress per consultation
  (429 beyond), announcing at most DEPOSITS_UNFINISHED_BYTES_FACTOR times the consultation's
  maximum deposit size across them (413 beyond). Both are checked under a lock on the
  company's row, so that parallel requests cannot each pass the check.
- A company removes an announced file (a refused one, say) or abandons a deposit in
  progress. Deposits never finalised are abandoned by a periodic task
  DEPOSITS_ABANDONED_AFTER_DAYS after the deadline (offres/tasks.py).
- Abandoning deletes the stored chunks, after the transaction commits: a crash in between
  leaves at most objects that no row points to, never a row pointing to nothing. The
  deposit's row and its files' rows (names, announced and received sizes) stay, with the
  journal entry. A received deposit is never touched.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from comptes.models import Membership, Organisation, User
from config.errors import ApplicationError
from marches import archive
from marches.models import Consultation, Lot
from marches.names import PathTree
from marches.templatetags.marches_format import human_size
from preuves import journal, timestamps
from preuves import log as preuves_log

from . import age_format, commitments, digests
from .models import Deposit, DepositChunk, DepositFile, Envelope

COPY_BYTES = 1024 * 1024


def _company_of(user: User, company: Organisation) -> Organisation:
    if not Membership.objects.filter(
        user=user, organisation=company, organisation__kind=Organisation.Kind.COMPANY
    ).exists():
        raise ApplicationError("Pli introuvable.", code="not_found", status=404)
    return company


def companies_of(user: User):
    """The companies a user may deposit for."""
    return Organisation.objects.companies().visible_to(user).order_by("name", "pk")


def company_for(user: User, company_id: int | None = None) -> Organisation:
    """The company a user deposits for: the one named, or their only one."""
    companies = companies_of(user)
    if company_id is not None:
        companies = companies.filter(pk=company_id)
    found = list(companies[:2])
    if len(found) == 1:
        return found[0]
    if found:
        raise ApplicationError("Précisez votre entreprise (champ company).", code="company")
    raise ApplicationError(
        "Vous n'êtes membre d'aucune entreprise : seules les entreprises déposent des plis.",
        code="company",
        status=403,
    )


def refusal(consultation: Consultation) -> ApplicationError | None:
    """Why a consultation receives no deposit, or None when it does: published (and after its
    deadline too: a late deposit is kept and flagged), with its two opening keys held as they
    must be — by the commission's quorum, or by the platform for the test consultation only
    (offres/simulation.py). Reads `consultation.opening_keys.all()`, so a prefetch serves."""
    if consultation.current_state not in (Consultation.State.PUBLISHED, Consultation.State.CLOSED):
        return ApplicationError("Cette consultation ne reçoit pas de plis.", code="not_open", status=409)
    held = [key.platform_held for key in consultation.opening_keys.all()]
    if len(held) != len(Envelope.values) or any(h != consultation.is_test for h in held):
        return ApplicationError(
            "Cette consultation n'a pas de clés d'ouverture valides : elle ne reçoit pas de plis. "
            "Signalez-le à l'acheteur.",
            code="no_keys",
            status=409,
        )
    return None


@transaction.atomic
def deposit_open(
    *, consultation: Consultation, company: Organisation, user: User, lots: list[Lot]
) -> Deposit:
    """Open a deposit: allowed until the deadline and after it (a late deposit is kept and
    flagged at reception, as the law requires)."""
    _company_of(user, company)
    refused = refusal(consultation)
    if refused is not None:
        raise refused
    if consultation.is_test:
        # Each test deposit costs the platform a decryption: a bound per company and day.
        limit = settings.TEST_DEPOSITS_PER_DAY
        since = timezone.now() - timedelta(days=1)
        if (
            Deposit.objects.filter(consultation=consultation, company=company, started_at__gte=since).count()
            >= limit
        ):
            raise ApplicationError(
                f"Votre entreprise a déjà fait {limit} dépôts de test ces dernières 24 heures : "
                "réessayez plus tard.",
                code="too_many_tests",
                status=429,
            )
    _lock_company(company)
    unfinished = list(
        Deposit.objects.filter(
            consultation=consultation, company=company, state=Deposit.State.UPLOADING
        ).values_list("public_id", flat=True)
    )
    bound = settings.DEPOSITS_UNFINISHED_MAX
    if len(unfinished) >= bound:
        raise ApplicationError(
            f"Votre entreprise a déjà {len(unfinished)} plis en cours d'envoi pour cette consultation "
            f"(au plus {bound}) : validez-en un, ou abandonnez ceux qui ne serviront pas, avant d'en "
            "commencer un autre.",
            code="too_many_unfinished",
            status=429,
            details={"unfinished": [str(public_id) for public_id in unfinished]},
        )
    own_lots = set(consultation.lots.values_list("pk", flat=True))
    if own_lots and not lots:
        raise ApplicationError("Choisissez au moins un lot.", code="validation")
    if any(lot.pk not in own_lots for lot in lots):
        raise ApplicationError(
            "Un des lots choisis n'appartient pas à cette consultation.", code="validation"
        )
    deposit = Deposit.objects.create(
        public_id=uuid.uuid4(),
        consultation=consultation,
        company=company,
        created_by=user,
        started_at=timezone.now(),
    )
    deposit.lots.set(lots)
    journal.record(
        "deposit.opened",
        actor=user,
        organisation=company,
        target=deposit,
        payload={"consultation": consultation.pk, "lots": sorted(lot.number for lot in lots)},
    )
    return deposit


def _lock_company(company: Organisation) -> None:
    """Serialise a company's deposit openings and file announcements, so that the bounds on
    its deposits in progress hold under parallel requests. NO KEY UPDATE: the company's new
    rows that reference it (deposits) take only KEY SHARE; nothing else locks this row."""
    Organisation.objects.select_for_update(no_key=True).filter(pk=company.pk).first()


def _editable(deposit: Deposit) -> None:
    if deposit.state == Deposit.State.ABANDONED:
        raise ApplicationError(
            "Ce pli a été abandonné : il ne peut plus être modifié ni validé. Commencez un nouveau dépôt.",
            code="abandoned",
            status=409,
        )
    if deposit.state != Deposit.State.UPLOADING:
        raise ApplicationError(
            "Ce pli est déjà reçu : il ne peut plus être modifié.", code="received", status=409
        )


@transaction.atomic
def file_add(*, deposit: Deposit, user: User, envelope: str, name: str, size: int) -> DepositFile:
    _lock_company(deposit.company)
    deposit = Deposit.objects.select_for_update(no_key=True).get(pk=deposit.pk)
    _company_of(user, deposit.company)
    _editable(deposit)
    if envelope not in Envelope.values:
        raise ApplicationError(
            "Enveloppe inconnue : « candidature » ou « offre » attendue.", code="validation"
        )
    # The DCE's rules (marches.archive, marches.names): a file name is listed in the receipt
    # and unpacked on the commission's computers, so nothing that displays as another name
    # (bidirectional controls), no control character, no folder, no `..`, no name Windows
    # reserves, 255 bytes at most, NFC; and no two names Windows or macOS would take for one.
    name = name.strip()
    try:
        clean = archive.safe_relative_path(name)
    except ApplicationError as exc:
        raise ApplicationError(
            f"Le nom de fichier « {exc.details['path']} » est refusé : {exc.details['reason']}.",
            code="unsafe_name",
            details=exc.details,
        ) from exc
    if "/" in name or "\\" in name:  # shown as given: safe_relative_path() found nothing hidden
        raise ApplicationError(
            f"Le nom de fichier « {name} » est refusé : il contient une barre oblique (« / » ou "
            "« \\ ») ; un pli ne contient pas de dossiers, donnez le nom du fichier seul.",
            code="unsafe_name",
            details={"path": name, "reason": "il contient une barre oblique"},
        )
    name = clean
    if size < 1:
        raise ApplicationError("Un fichier chiffré n'est jamais vide.", code="validation")
    announced = deposit.files.aggregate(total=Sum("size"))["total"] or 0
    limit = deposit.consultation.max_deposit_bytes
    if announced + size > limit:
        raise ApplicationError(
            f"Le pli dépasserait la taille maximale de la consultation ({limit} octets) : "
            f"{announced + size} octets annoncés.",
            code="too_large",
            status=413,
        )
    in_progress = (
        DepositFile.objects.filter(
            deposit__consultation_id=deposit.consultation_id,
            deposit__company_id=deposit.company_id,
            deposit__state=Deposit.State.UPLOADING,
        ).aggregate(total=Sum("size"))["total"]
        or 0
    )
    bound = settings.DEPOSITS_UNFINISHED_BYTES_FACTOR * limit
    if in_progress + size > bound:
        raise ApplicationError(
            f"Ce fichier est refusé : vos plis en cours d'envoi pour cette consultation annonceraient "
            f"{human_size(in_progress + size)}, au-delà de {human_size(bound)} ("
            f"{settings.DEPOSITS_UNFINISHED_BYTES_FACTOR} fois la taille maximale d'un pli). Retirez les "
            "fichiers ou abandonnez les plis en cours qui ne serviront pas, ou validez-en un.",
            code="unfinished_too_large",
            status=413,
            details={"announced": in_progress, "requested": size, "limit": bound},
        )
    clash = PathTree(deposit.files.filter(envelope=envelope).values_list("name", flat=True)).clash(name)
    if clash and clash.first == name:
        raise ApplicationError(
            f"Un fichier « {name} » est déjà dans cette enveloppe.", code="duplicate", status=409
        )
    if clash:
        raise ApplicationError(
            clash.message("L'enveloppe contiendrait") + " Renommez l'un des deux fichiers.",
            code="duplicate",
            status=409,
            details={"name": name, "existing": clash.first},
        )
    return DepositFile.objects.create(
        deposit=deposit, envelope=envelope, name=name, size=size, created_at=timezone.now()
    )


class _Bounded:
    """A read-only, forward-only stream that counts what passes through it, feeds it to the
    file's running SHA-256 when there is one, and refuses to read past `limit` bytes.
    Storage backends see a non-seekable file: the local one copies it block by block, the S3
    one (boto3) sends it in parts of at most one chunk."""

    def __init__(
        self, stream: BinaryIO, limit: int, first: bytes = b"", digest: digests.ResumableSha256 | None = None
    ) -> None:
        self.stream, self.limit, self.digest = stream, limit, digest
        self.count = 0
        self.pending = first
        self.closed = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True

    def read(self, size: int = -1) -> bytes:
        """Up to `size` bytes, fewer only at the end of the chunk, as a file gives them (a
        socket returns short reads; boto3 would take one for the end of the stream)."""
        want = COPY_BYTES if size is None or size < 0 else size
        parts, got = [], 0
        if self.pending:
            parts.append(self.pending[:want])
            self.pending = self.pending[want:]
            got = len(parts[0])
        # One byte past the announced length is enough to know a client sent too much.
        allowed = self.limit - self.count + 1
        while got < want and got < allowed:
            block = self.stream.read(min(want, allowed) - got)
            if not block:
                break
            parts.append(block)
            got += len(block)
        data = b"".join(parts)
        self.count += len(data)
        if self.count > self.limit:
            raise ApplicationError(
                "Ce morceau dépasse la taille annoncée du fichier.", code="too_large", status=413
            )
        if self.digest is not None:
            self.digest.update(data)
        return data


def _durable(name: str, *, new_folders: bool = False) -> None:
    """A chunk is acknowledged only once it is on disk: flush the file and its folder entry
    (local storage), and for a file's first chunk the folders created for it up to the
    storage's root. Object storage has it durably once the PUT is answered."""
    try:
        path = Path(default_storage.path(name))
        root = Path(default_storage.path(""))
    except NotImplementedError:
        return
    targets = [(path, os.O_RDONLY), (path.parent, os.O_RDONLY | os.O_DIRECTORY)]
    if new_folders:
        targets += [
            (folder, os.O_RDONLY | os.O_DIRECTORY)
            for folder in path.parent.parents
            if folder.is_relative_to(root)
        ]
    for target, flags in targets:
        descriptor = os.open(target, flags)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


class _ChunkFile(File):
    """Copied to storage in blocks of 1 MiB rather than Django's 64 KiB."""

    DEFAULT_CHUNK_SIZE = COPY_BYTES


def _storage_name(file: DepositFile, offset: int) -> str:
    return f"plis/{file.deposit.public_id}/{file.pk}/{offset:015d}.part"


@transaction.atomic
def chunk_receive(
    *, file: DepositFile, user: User, offset: int, stream: BinaryIO, length: int
) -> DepositFile:
    """Store one chunk at `offset`. Refusals say where to resume."""
    # Only this file's row is locked (of=self): chunks of other files, other deposits and the
    # consultation's finalisations go on in parallel. NO KEY UPDATE: rows referencing the file
    # (its chunks) can still be inserted by this very transaction without a stronger lock.
    file = (
        DepositFile.objects.select_for_update(of=("self",), no_key=True)
        .select_related("deposit__consultation")
        .filter(pk=file.pk)
        .first()
    )
    if file is None:  # removed by the company while this chunk waited for the lock
        raise ApplicationError("Fichier introuvable dans ce pli.", code="not_found", status=404)
    _company_of(user, file.deposit.company)
    # The deposit's state read again, in a statement of its own: the one above read it in the
    # snapshot taken before waiting for the file's lock, and an abandonment that held that lock
    # has committed since (PostgreSQL re-reads only the locked row).
    file.deposit.state = Deposit.objects.values_list("state", flat=True).get(pk=file.deposit_id)
    _editable(file.deposit)
    if file.complete:
        raise ApplicationError("Ce fichier est déjà reçu en entier.", code="complete", status=409)
    if offset != file.received:
        raise ApplicationError(
            f"Morceau à la position {offset} refusé : le serveur a reçu {file.received} octets de ce "
            f"fichier, reprenez à la position {file.received}.",
            code="wrong_offset",
            status=409,
            details={"expected_offset": file.received},
        )
    if length < 1 or length > settings.DEPOSIT_CHUNK_MAX_BYTES:
        raise ApplicationError(
            f"Morceau de {length} octets : entre 1 et {settings.DEPOSIT_CHUNK_MAX_BYTES} octets attendus.",
            code="chunk_size",
            status=413 if length > 0 else 400,
        )
    if offset + length > file.size:
        raise ApplicationError(
            f"Ce morceau dépasse la taille annoncée du fichier ({file.size} octets).",
            code="too_large",
            status=413,
        )
    first = b""
    if offset == 0:
        # The whole header must be in the first chunk (it is at most 64 KiB, age files have a
        # few hundred bytes), so that what is not age is refused before anything is stored.
        first = stream.read(min(length, age_format.MAX_HEADER_BYTES))
        try:
            header = age_format.parse_header(first)
        except age_format.AgeFormatError as exc:
            raise ApplicationError(f"« {file.name} » refusé : {exc}", code="not_age", status=415) from None
        file.header_length = header.length
    # The file's SHA-256 runs as the chunks stream, its state kept in the file's row between
    # requests (offres/digests.py); without it, the file is read back at its completion.
    digest = None
    if digests.AVAILABLE and (offset == 0 or file.sha256_state):
        digest = digests.ResumableSha256(None if offset == 0 else bytes(file.sha256_state))
    reader = _Bounded(stream, length, first, digest)
    wanted = _storage_name(file, offset)
    try:
        name = default_storage.save(wanted, _ChunkFile(reader, name="part"))
    except BaseException:
        # A connection dropped mid-chunk: whatever the storage wrote of it goes.
        if default_storage.exists(wanted):
            default_storage.delete(wanted)
        raise
    try:
        if reader.count != length:
            raise ApplicationError(
                f"Morceau interrompu : {reader.count} octets reçus sur {length} annoncés. Renvoyez-le à la "
                f"position {offset}.",
                code="incomplete_chunk",
                details={"expected_offset": offset},
            )
        _durable(name, new_folders=offset == 0)
        DepositChunk.objects.create(
            file=file, offset=offset, size=length, storage_name=name, received_at=timezone.now()
        )
        file.received = offset + length
        file.sha256_state = digest.state() if digest is not None else None
        if file.received == file.size:
            _complete(file, digest)
        file.save()
    except BaseException:
        # Nothing of a refused chunk stays: no row (the transaction rolls back), no object.
        default_storage.delete(name)
        raise
    return file


class StoredFile:
    """A file as stored: its chunks read back in order, as one forward-only stream (for the
    digest's fallback here, the test consultation's check, the ceremony)."""

    def __init__(self, file: DepositFile) -> None:
        self.names = list(file.chunks.order_by("offset").values_list("storage_name", flat=True))
        self.current = None

    def read(self, size: int = -1) -> bytes:
        want = COPY_BYTES if size is None or size < 0 else size
        while True:
            if self.current is None:
                if not self.names:
                    return b""
                self.current = default_storage.open(self.names.pop(0), "rb")
            data = self.current.read(want)
            if data:
                return data
            self.current.close()
            self.current = None

    def close(self) -> None:
        if self.current is not None:
            self.current.close()
            self.current = None

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _complete(file: DepositFile, digest: digests.ResumableSha256 | None) -> None:
    try:
        age_format.check_length(file.size, age_format.Header((), file.header_length or 0))
    except age_format.AgeFormatError as exc:
        raise ApplicationError(f"« {file.name} » refusé : {exc}", code="not_age", status=415) from None
    if digest is None:
        # No running digest (libcrypto without SHA256_CTX, or an upload begun without one):
        # read the chunks back in order, streaming.
        digest = hashlib.sha256()
        stored = StoredFile(file)
        try:
            while block := stored.read(COPY_BYTES):
                digest.update(block)
        finally:
            stored.close()
    file.sha256 = digest.hexdigest()
    file.sha256_state = None
    file.completed_at = timezone.now()


# --- Removing a file, abandoning a deposit ---------------------------------------------------


def _storage_folder(deposit: Deposit, file_pk: int | None = None) -> str:
    folder = f"plis/{deposit.public_id}"
    return folder if file_pk is None else f"{folder}/{file_pk}"


def _delete_folder(folder: str) -> None:
    """Every object under `folder`: those the chunk rows named, and any a crash left behind."""
    try:
        folders, names = default_storage.listdir(folder)
    except FileNotFoundError:
        return
    for name in names:
        default_storage.delete(f"{folder}/{name}")
    for sub in folders:
        _delete_folder(f"{folder}/{sub}")
    # Object storage has no folders; a folder still holding something stays.
    with contextlib.suppress(NotImplementedError, OSError):
        Path(default_storage.path(folder)).rmdir()


def _delete_after_commit(folder: str) -> None:
    # After the commit, never before: a rolled-back removal must not lose chunks that its
    # rows still point to. robust: the rows are already committed; a storage failure leaves
    # objects no row points to (logged by Django), which never count.
    transaction.on_commit(lambda: _delete_folder(folder), robust=True)


def _chunk_counts(files) -> dict:
    chunks = DepositChunk.objects.filter(file__in=files)
    return {
        "files": len(files),
        "chunks": chunks.count(),
        "bytes": chunks.aggregate(total=Sum("size"))["total"] or 0,
        "announced": sum(f.size for f in files),
    }


@transaction.atomic
def file_remove(*, deposit: Deposit, file_id: int, user: User) -> None:
    """Remove an announced file from a deposit in progress, whatever it holds: its row, its
    chunks' rows and (once committed) its stored chunks. A refused file no longer blocks the
    deposit's validation."""
    deposit = Deposit.objects.select_for_update(of=("self",), no_key=True).get(pk=deposit.pk)
    _company_of(user, deposit.company)
    _editable(deposit)
    # FOR UPDATE: waits for a chunk of this file being stored; the next one finds no file.
    file = DepositFile.objects.select_for_update(of=("self",)).filter(deposit=deposit, pk=file_id).first()
    if file is None:
        raise ApplicationError("Fichier introuvable dans ce pli.", code="not_found", status=404)
    counts = _chunk_counts([file])
    DepositChunk.objects.filter(file=file).delete()
    file_pk = file.pk
    file.delete()
    # No file name in the journal: buyer staff read it before the opening, and a name can
    # tell the offer (the register shows counts and sizes only).
    journal.record(
        "deposit.file_removed",
        actor=user,
        organisation=deposit.company,
        target=deposit,
        payload={
            "consultation": deposit.consultation_id,
            "file": file_pk,
            "envelope": file.envelope,
            "size": file.size,
            "chunks": counts["chunks"],
            "bytes": counts["bytes"],
        },
    )
    _delete_after_commit(_storage_folder(deposit, file_pk))


def _abandon(deposit: Deposit, *, actor: User | None, reason: str) -> Deposit:
    """Within the caller's transaction, `deposit` locked and in progress."""
    # Every file's row locked: a chunk being stored finishes first, any later one finds the
    # deposit abandoned and is refused before it writes anything.
    files = list(DepositFile.objects.select_for_update(of=("self",), no_key=True).filter(deposit=deposit))
    counts = _chunk_counts(files)
    DepositChunk.objects.filter(file__in=files).delete()
    deposit.state = Deposit.State.ABANDONED
    deposit.abandoned_at = timezone.now()
    deposit.save(update_fields=["state", "abandoned_at"])
    journal.record(
        "deposit.abandoned",
        actor=actor,
        organisation=deposit.company,
        target=deposit,
        payload={"consultation": deposit.consultation_id, "reason": reason, **counts},
    )
    _delete_after_commit(_storage_folder(deposit))
    return deposit


@transaction.atomic
def deposit_abandon(*, deposit: Deposit, user: User) -> Deposit:
    """The company gives up a deposit in progress: its stored chunks are deleted, the deposit
    stays listed as abandoned and takes nothing more. Abandoning twice is harmless."""
    _company_of(user, deposit.company)
    deposit = Deposit.objects.select_for_update(of=("self",), no_key=True).get(pk=deposit.pk)
    if deposit.state == Deposit.State.ABANDONED:
        return deposit
    if deposit.state == Deposit.State.RECEIVED:
        raise ApplicationError(
            "Ce pli est déjà reçu : il est conservé et ne peut pas être abandonné.",
            code="received",
            status=409,
        )
    return _abandon(deposit, actor=user, reason="company")


def abandon_expired(*, now=None) -> int:
    """Abandon the uploads never finalised, DEPOSITS_ABANDONED_AFTER_DAYS after both the
    consultation's deadline and their own start (a late deposit begun after the deadline
    gets the same delay; the test consultation has no deadline that passes). One
    transaction per deposit; a deposit received meanwhile is skipped. Returns how many."""
    limit = (now or timezone.now()) - timedelta(days=settings.DEPOSITS_ABANDONED_AFTER_DAYS)
    expired = Deposit.objects.filter(
        Q(consultation__deadline__lt=limit) | Q(consultation__is_test=True),
        state=Deposit.State.UPLOADING,
        started_at__lt=limit,
    )
    done = 0
    for pk in list(expired.values_list("pk", flat=True)):
        with transaction.atomic():
            deposit = (
                Deposit.objects.select_for_update(of=("self",), no_key=True)
                .filter(pk=pk, state=Deposit.State.UPLOADING)
                .first()
            )
            if deposit is not None:
                _abandon(deposit, actor=None, reason="expired")
                done += 1
    return done


# --- Finalisation ---------------------------------------------------------------------------


def _manifest(deposit: Deposit, files: list[DepositFile], received_at) -> dict:
    consultation = deposit.consultation
    company = deposit.company
    return {
        "format": "marches-ouverts/bordereau/1",
        "deposit": str(deposit.public_id),
        "company": {
            "name": company.name,
            "identifier": company.siret or company.vat_number or company.national_id,
        },
        "deposited_by": deposit.created_by.email,
        "buyer": consultation.buyer.name,
        "consultation": {
            "id": consultation.pk,
            "reference": consultation.reference,
            "title": consultation.title,
            "deadline": consultation.deadline.isoformat(),
        },
        "lots": sorted(lot.number for lot in deposit.lots.all()),
        "started_at": deposit.started_at.isoformat(timespec="milliseconds"),
        "received_at": received_at.isoformat(timespec="milliseconds"),
        "late": received_at >= consultation.deadline,
        "files": [
            {"envelope": f.envelope, "name": f.name, "size": f.size, "sha256": f.sha256} for f in files
        ],
    }


def manifest_bytes(manifest: dict) -> bytes:
    return preuves_log.canonical(manifest)


def deposit_finalise(*, deposit: Deposit, user: User) -> Deposit:
    """Receive a deposit, in one transaction under a lock on the consultation: reception time
    is the server's time now (the end of the upload is what counts in law), compared with the
    deadline under that lock, so no deposit finalised after the closing can be in time. The
    manifest's digest is timestamped, and the log's leaf commits to the facts and the token.
    Finalising twice gives the same receipt."""
    _company_of(user, deposit.company)
    with transaction.atomic():
        # NO KEY UPDATE: finalisations of one consultation, and its closing, are serialised,
        # while a deposit being opened meanwhile (which takes KEY SHARE on the consultation for
        # its foreign key) is not blocked — FOR UPDATE here deadlocked with it over the
        # journal's head (benchmarks/deposit.py, docs/performance.md).
        Consultation.objects.select_for_update(no_key=True).get(pk=deposit.consultation_id)
        deposit = (
            Deposit.objects.select_for_update(of=("self",), no_key=True)
            .select_related("consultation__buyer", "company", "created_by")
            .get(pk=deposit.pk)
        )
        if deposit.state == Deposit.State.RECEIVED:
            return deposit
        _editable(deposit)  # an abandoned deposit is never received
        files = list(deposit.files.order_by("envelope", "name"))
        if not files:
            raise ApplicationError(
                "Ce pli ne contient aucun fichier : ajoutez-en avant de l'envoyer.", code="empty"
            )
        missing = [f"{f.name} ({f.size - f.received} octets manquants)" for f in files if not f.complete]
        if missing:
            raise ApplicationError(
                "Envoi incomplet : "
                + ", ".join(missing)
                + ". Reprenez l'envoi de ces fichiers, puis validez.",
                code="incomplete",
                status=409,
            )
        received_at = timezone.now()
        manifest = _manifest(deposit, files, received_at)
        body = manifest_bytes(manifest)
        token = timestamps.timestamp_data(body, purpose="deposit", subject=deposit)
        deposit.state = Deposit.State.RECEIVED
        deposit.received_at = received_at
        deposit.late = manifest["late"]
        deposit.manifest = manifest
        deposit.digest = token.hashed_message
        deposit.timestamp = token
        # The public leaf commits to the deposit's facts and says none of them
        # (offres/commitments.py); only the receipt and this row keep the nonce that opens it.
        leaf, nonce = preuves_log.append_deposit(
            commitments.facts(deposit), tag_key=commitments.tag_key(deposit.consultation_id)
        )
        deposit.log_index = leaf.index
        deposit.commitment_nonce = nonce.hex()
        deposit.save()
        journal.record(
            "deposit.received",
            actor=user,
            organisation=deposit.company,
            target=deposit,
            payload={
                "consultation": deposit.consultation_id,
                "late": deposit.late,
                "digest": deposit.digest,
                "log_index": leaf.index,
                "files": len(files),
            },
        )
        transaction.on_commit(lambda: _after_reception(deposit.pk))
    return deposit


def _after_reception(deposit_pk: int) -> None:
    """Once the reception is committed: a checkpoint that covers it (signed outside the
    appending transaction, see preuves.log.checkpoint), then the e-mail, in a task."""
    from . import tasks

    deposit = (
        Deposit.objects.select_related("consultation")
        .only("log_index", "consultation__is_test")
        .get(pk=deposit_pk)
    )
    preuves_log.checkpoint(covering=deposit.log_index + 1)
    if deposit.consultation.is_test:
        tasks.test_deposit_check.delay(deposit_pk)
    tasks.receipt_send.delay(deposit_pk)
