"""Write-side use cases of consultations (STYLE.md §1): each validates, writes and journals in
one transaction."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parseaddr
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from comptes.models import Membership, Organisation, User
from config.errors import ApplicationError, full_clean_and_save
from preuves import journal

from . import antivirus, archive, checks, rules, storage, workflow
from .models import (
    CommissionSeat,
    Consultation,
    CpvCode,
    DceDownload,
    DceFile,
    DceUnscannedAcceptance,
    DceVersion,
    Lot,
)
from .names import PathTree

State = Consultation.State

EDITABLE_FIELDS = (
    "reference",
    "title",
    "description",
    "nature",
    "procedure",
    "authority_type",
    "cpv_main",
    "place_code",
    "estimated_value",
    "deadline",
    "questions_deadline",
    "variants_allowed",
    "two_step_opening",
    "max_deposit_bytes",
    "contact_name",
    "contact_email",
    "contact_phone",
)
# What an amendment (avis rectificatif) may change once published.
AMENDABLE_FIELDS = (
    "deadline",
    "questions_deadline",
    "description",
    "contact_name",
    "contact_email",
    "contact_phone",
)


# --- Helpers ----------------------------------------------------------------------------------


def _require_buyer_staff(user: User, buyer: Organisation) -> None:
    if not Organisation.objects.staffed_by(user).filter(pk=buyer.pk).exists():
        raise ApplicationError(
            "Seuls les administrateurs et agents de l'acheteur peuvent gérer ses consultations.",
            code="forbidden",
            status=403,
        )


def _require_draft(consultation: Consultation) -> None:
    if consultation.state != State.DRAFT:
        raise ApplicationError(
            "Cette consultation est publiée : elle ne se modifie plus que par un avis rectificatif "
            "accompagné d'une nouvelle version du DCE.",
            code="published",
            status=409,
        )


def _lock(consultation: Consultation) -> Consultation:
    return Consultation.objects.select_for_update().get(pk=consultation.pk)


def _refresh_search_vector(consultation: Consultation) -> None:
    if connection.vendor != "postgresql":
        return
    from django.contrib.postgres.search import SearchVector

    Consultation.objects.filter(pk=consultation.pk).update(
        search_vector=SearchVector("reference", weight="A", config="french")
        + SearchVector("title", weight="A", config="french")
        + SearchVector("description", weight="B", config="french")
    )


def _display(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, CpvCode):
        return value.full_code
    return value


# --- Consultation -----------------------------------------------------------------------------


@transaction.atomic
def consultation_create(
    *, buyer: Organisation, created_by: User, cpv_additional: Iterable[CpvCode] = (), **fields: Any
) -> Consultation:
    """A buyer's agent creates a draft consultation, with an empty working DCE (version 1)."""
    _require_buyer_staff(created_by, buyer)
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ApplicationError(f"Champs inconnus : {', '.join(sorted(unknown))}.", code="validation")
    fields.setdefault("max_deposit_bytes", settings.DEPOSIT_MAX_BYTES_DEFAULT)
    consultation = Consultation(buyer=buyer, created_by=created_by, **fields)
    full_clean_and_save(consultation)
    consultation.cpv_additional.set(_distinct_additional(consultation, cpv_additional))
    DceVersion.objects.create(consultation=consultation, number=1, created_by=created_by)
    journal.record(
        "consultation.created",
        actor=created_by,
        organisation=buyer,
        target=consultation,
        payload={"reference": consultation.reference, "title": consultation.title},
    )
    _refresh_search_vector(consultation)
    return consultation


def _distinct_additional(consultation: Consultation, codes: Iterable[CpvCode]) -> list[CpvCode]:
    return [c for c in dict.fromkeys(codes) if c.pk != consultation.cpv_main_id]


@transaction.atomic
def consultation_update(
    *,
    consultation: Consultation,
    updated_by: User,
    cpv_additional: Iterable[CpvCode] | None = None,
    **fields: Any,
) -> Consultation:
    """Edit a draft. A published consultation is changed only by `consultation_amend`."""
    _require_buyer_staff(updated_by, consultation.buyer)
    consultation = _lock(consultation)
    _require_draft(consultation)
    unknown = set(fields) - set(EDITABLE_FIELDS)
    if unknown:
        raise ApplicationError(f"Champs inconnus : {', '.join(sorted(unknown))}.", code="validation")
    changed = {}
    for name, value in fields.items():
        if getattr(consultation, name) != value:
            changed[name] = _display(value)
            setattr(consultation, name, value)
    consultation.updated_at = timezone.now()
    if consultation.lots.exists() and "estimated_value" in fields:
        consultation.estimated_value = checks.total_value(consultation)
    full_clean_and_save(consultation)
    if cpv_additional is not None:
        codes = _distinct_additional(consultation, cpv_additional)
        before = sorted(consultation.cpv_additional.values_list("code", flat=True))
        if sorted(c.code for c in codes) != before:
            consultation.cpv_additional.set(codes)
            changed["cpv_additional"] = [c.full_code for c in codes]
    if changed:
        journal.record(
            "consultation.updated",
            actor=updated_by,
            organisation=consultation.buyer,
            target=consultation,
            payload={"changed": changed},
        )
    _refresh_search_vector(consultation)
    return consultation


@dataclass(frozen=True)
class LotInput:
    number: int
    title: str
    estimated_value: Decimal
    cpv: CpvCode | None = None
    description: str = ""


@transaction.atomic
def lots_set(*, consultation: Consultation, updated_by: User, lots: Sequence[LotInput]) -> list[Lot]:
    """Replace the lots of a draft. With lots, the consultation's value is their sum (the value
    of all lots counts against the thresholds). An empty list makes it a single-lot
    consultation."""
    _require_buyer_staff(updated_by, consultation.buyer)
    consultation = _lock(consultation)
    _require_draft(consultation)
    if len(lots) == 1:
        raise ApplicationError(
            "Une consultation allotie compte au moins deux lots. Pour un marché unique, ne créez pas de lot.",
            code="validation",
        )
    numbers = [lot.number for lot in lots]
    if len(set(numbers)) != len(numbers):
        raise ApplicationError("Deux lots portent le même numéro.", code="validation")
    consultation.lots.all().delete()
    created = []
    for item in sorted(lots, key=lambda lot: lot.number):
        lot = Lot(
            consultation=consultation,
            number=item.number,
            title=item.title,
            description=item.description,
            cpv=item.cpv,
            estimated_value=item.estimated_value,
        )
        try:
            lot.full_clean()
        except ValidationError as exc:
            error = ApplicationError.from_validation_error(exc)
            error.message = f"Lot {item.number} : {error.message}"
            raise error from None
        lot.save()
        created.append(lot)
    if created:
        consultation.estimated_value = sum((lot.estimated_value for lot in created), Decimal(0))
        consultation.updated_at = timezone.now()
        full_clean_and_save(consultation)
    journal.record(
        "consultation.lots_set",
        actor=updated_by,
        organisation=consultation.buyer,
        target=consultation,
        payload={
            "lots": [
                {
                    "number": lot.number,
                    "title": lot.title,
                    "cpv": lot.cpv.full_code if lot.cpv else None,
                    "estimated_value": str(lot.estimated_value),
                }
                for lot in created
            ]
        },
    )
    return created


@transaction.atomic
def commission_set(
    *,
    consultation: Consultation,
    updated_by: User,
    members: Sequence[User],
    president: User,
    quorum: int,
) -> list[CommissionSeat]:
    """Choose which of the buyer's commission members hold a share of the opening key, who
    presides, and how many of them must be present to open (2 ≤ k ≤ n)."""
    _require_buyer_staff(updated_by, consultation.buyer)
    consultation = _lock(consultation)
    _require_draft(consultation)
    members = list(dict.fromkeys(members))
    eligible = set(
        Membership.objects.filter(
            organisation=consultation.buyer, role=Membership.Role.COMMISSION_MEMBER, user__in=members
        ).values_list("user_id", flat=True)
    )
    outsiders = [m.email for m in members if m.pk not in eligible]
    if outsiders:
        raise ApplicationError(
            "Ne sont pas membres de la commission de l'acheteur : " + ", ".join(outsiders) + ".",
            code="validation",
        )
    if len(members) < 2:
        raise ApplicationError("La commission compte au moins deux membres.", code="validation")
    if president not in members:
        raise ApplicationError("Le président doit être l'un des membres désignés.", code="validation")
    if not 2 <= quorum <= len(members):
        raise ApplicationError(
            f"Le quorum doit être compris entre 2 et le nombre de membres ({len(members)}).",
            code="validation",
        )
    consultation.commission.all().delete()
    seats = [
        CommissionSeat.objects.create(consultation=consultation, member=m, is_president=m == president)
        for m in members
    ]
    consultation.quorum = quorum
    consultation.updated_at = timezone.now()
    full_clean_and_save(consultation)
    journal.record(
        "consultation.commission_set",
        actor=updated_by,
        organisation=consultation.buyer,
        target=consultation,
        payload={"members": [m.email for m in members], "president": president.email, "quorum": quorum},
    )
    return seats


# Steps other apps add to a publication, run inside its transaction after the state change:
# offres creates the opening keys there (offres.apps). An explicit extension point rather than
# a signal, because marches must not import offres (api → offres → marches) and a
# publication without its keys must not commit.
PUBLICATION_STEPS: list = []


@transaction.atomic
def consultation_publish(
    *, consultation: Consultation, published_by: User, now: datetime | None = None
) -> Consultation:
    """Publish a draft after checking every rule in force today. The DCE's version 1 is
    frozen, and the rules checked are kept in the journal entry."""
    _require_buyer_staff(published_by, consultation.buyer)
    consultation = _lock(consultation)
    _require_draft(consultation)
    now = now or timezone.now()
    report = checks.publication_report(consultation, at=now)
    if not report.ok:
        raise ApplicationError(
            "La consultation ne peut pas être publiée : " + " ".join(c.message for c in report.errors),
            code="publication_refused",
            details={c.code: [c.message] for c in report.errors},
        )
    version = consultation.dce_versions.get(published_at__isnull=True)
    _dce_version_freeze(version, published_by, now)
    workflow.transition(
        consultation, State.PUBLISHED, actor=published_by, published_at=now, published_by=published_by
    )
    for step in PUBLICATION_STEPS:
        step(consultation=consultation, published_by=published_by)
    journal.record(
        "consultation.published",
        actor=published_by,
        organisation=consultation.buyer,
        target=consultation,
        payload={
            "reference": consultation.reference,
            "deadline": consultation.deadline.isoformat(),
            "estimated_value": str(checks.total_value(consultation)),
            "rules": {c.code: {"level": c.level, "message": c.message} for c in report.checks},
        },
    )
    _refresh_search_vector(consultation)
    consultation.refresh_from_db()
    return consultation


@transaction.atomic
def consultation_amend(
    *, consultation: Consultation, amended_by: User, note: str, **fields: Any
) -> Consultation:
    """An amendment (avis rectificatif) to a published consultation, before its deadline: it
    publishes the new version of the DCE prepared for it and may change the deadlines, the
    description or the contact. Bidders registered in the download register are told."""
    _require_buyer_staff(amended_by, consultation.buyer)
    consultation = _lock(consultation)
    if consultation.current_state != State.PUBLISHED:
        raise ApplicationError(
            "Seule une consultation en cours (avant la date limite) peut être rectifiée.",
            code="not_published",
            status=409,
        )
    unknown = set(fields) - set(AMENDABLE_FIELDS)
    if unknown:
        raise ApplicationError(
            "Un avis rectificatif ne peut modifier que les dates limites, la description et le "
            f"contact (champs refusés : {', '.join(sorted(unknown))}).",
            code="validation",
        )
    if not note.strip():
        raise ApplicationError(
            "Décrivez les modifications apportées par l'avis rectificatif.", code="validation"
        )
    version = consultation.dce_versions.filter(published_at__isnull=True).first()
    previous = consultation.dce_versions.filter(published_at__isnull=False).order_by("-number").first()
    if version is None or _manifest(version) == _manifest(previous):
        raise ApplicationError(
            "Un avis rectificatif s'accompagne d'une nouvelle version du DCE : ajoutez, remplacez "
            "ou retirez les documents modifiés (par exemple le règlement de la consultation) avant "
            "de le publier.",
            code="dce_version_required",
            status=409,
        )
    changed = {}
    for name, value in fields.items():
        if getattr(consultation, name) != value:
            changed[name] = _display(value)
            setattr(consultation, name, value)
    now = timezone.now()
    if "deadline" in changed:
        _check_amended_deadline(consultation, now)
    consultation.updated_at = now
    full_clean_and_save(consultation)
    version.note = note.strip()
    _dce_version_freeze(version, amended_by, now)
    journal.record(
        "consultation.amended",
        actor=amended_by,
        organisation=consultation.buyer,
        target=consultation,
        payload={"changed": changed, "dce_version": version.number, "note": version.note},
    )
    _refresh_search_vector(consultation)
    from .tasks import notify_dce_change

    transaction.on_commit(lambda: notify_dce_change.delay(version.pk))
    return consultation


def _check_amended_deadline(consultation: Consultation, now: datetime) -> None:
    if consultation.deadline <= now:
        raise ApplicationError("La nouvelle date limite doit être à venir.", code="validation")
    published_day = timezone.localdate(consultation.published_at)
    limit = rules.minimum_time_limit(
        procedure=consultation.procedure, authority_type=consultation.authority_type, day=published_day
    )
    days = (timezone.localdate(consultation.deadline) - published_day).days
    if limit and days < limit.days:
        raise ApplicationError(
            f"La nouvelle date limite laisserait {days} jour(s) depuis la publication ; le minimum "
            f"est de {limit.days} jours ({limit.article}).",
            code="validation",
        )


OUTCOMES = (State.AWARDED, State.UNSUCCESSFUL, State.DISCONTINUED, State.ARCHIVED)
# Declared with a reason, which is told to the candidates (article R2185-1).
REASON_REQUIRED = (State.UNSUCCESSFUL, State.DISCONTINUED)


@transaction.atomic
def consultation_declare(
    *, consultation: Consultation, declared_by: User, outcome: str, reason: str = ""
) -> Consultation:
    """Record the outcome of a procedure (attribuée, infructueuse, sans suite) or archive it.
    Opening the bids belongs to the opening ceremony, not to this service."""
    _require_buyer_staff(declared_by, consultation.buyer)
    if outcome not in OUTCOMES:
        raise ApplicationError("Issue de procédure inconnue.", code="validation")
    if outcome in REASON_REQUIRED and not reason.strip():
        raise ApplicationError("Indiquez le motif de la décision.", code="validation")
    return workflow.transition(consultation, outcome, actor=declared_by, reason=reason.strip())


def consultations_close_expired(now: datetime | None = None) -> int:
    """Record the closing of every consultation whose deadline has passed (periodic task)."""
    closed = 0
    for pk in Consultation.objects.due_for_closing(now).values_list("pk", flat=True):
        with transaction.atomic():
            consultation = Consultation.objects.select_for_update().get(pk=pk)
            if consultation.state == State.PUBLISHED:
                workflow.transition(
                    consultation, State.CLOSED, reason="date limite de remise des plis atteinte"
                )
                closed += 1
    return closed


# --- DCE -----------------------------------------------------------------------------------


def _manifest(version: DceVersion | None) -> list[tuple[str, str]]:
    if version is None:
        return []
    return list(version.files.order_by("path").values_list("path", "sha256"))


def _dce_version_freeze(version: DceVersion, by: User, now: datetime) -> None:
    version.published_at = now
    version.save(update_fields=["published_at", "note"])
    journal.record(
        "dce.version_published",
        actor=by,
        organisation=version.consultation.buyer,
        target=version.consultation,
        payload={
            "version": version.number,
            "note": version.note,
            "files": [{"path": f.path, "size": f.size, "sha256": f.sha256} for f in version.files.all()],
        },
    )


def dce_working_version(consultation: Consultation, *, by: User) -> DceVersion:
    """The version being edited: version 1 for a draft; after publication, a new version that
    starts as a copy of the last published one."""
    version = consultation.dce_versions.filter(published_at__isnull=True).first()
    if version:
        return version
    if consultation.current_state != State.PUBLISHED:
        raise ApplicationError(
            "Le DCE ne peut plus être modifié : la date limite de remise des plis est passée.",
            code="dce_frozen",
            status=409,
        )
    last = consultation.dce_versions.order_by("-number").first()
    version = DceVersion.objects.create(consultation=consultation, number=last.number + 1, created_by=by)
    DceFile.objects.bulk_create(
        DceFile(
            version=version,
            path=f.path,
            size=f.size,
            sha256=f.sha256,
            blob=f.blob,
            scan_status=f.scan_status,
            uploaded_at=f.uploaded_at,
            uploaded_by_id=f.uploaded_by_id,
        )
        for f in last.files.all()
    )
    return version


@transaction.atomic
def dce_version_prepare(*, consultation: Consultation, prepared_by: User) -> DceVersion:
    """Open the next version of a published DCE (a copy of the last one), to be published by
    an avis rectificatif. Journaled so that the register of actions shows who started it."""
    _require_buyer_staff(prepared_by, consultation.buyer)
    consultation = _lock(consultation)
    existing = consultation.dce_versions.filter(published_at__isnull=True).first()
    if existing:
        return existing
    version = dce_working_version(consultation, by=prepared_by)
    journal.record(
        "dce.version_prepared",
        actor=prepared_by,
        organisation=consultation.buyer,
        target=consultation,
        payload={"version": version.number},
    )
    return version


@transaction.atomic
def download_register_export(*, consultation: Consultation, exported_by: User):
    """The download register for export. Reading it is not a write, but exporting personal
    data is a fact kept on the record: journaled before the first byte leaves."""
    _require_buyer_staff(exported_by, consultation.buyer)
    rows = consultation.downloads.select_related("version", "file").order_by("-created_at", "-pk")
    journal.record(
        "dce.register_exported",
        actor=exported_by,
        organisation=consultation.buyer,
        target=consultation,
        payload={"rows": rows.count()},
    )
    return rows


@dataclass
class _Incoming:
    path: str
    file: IO[bytes]
    size: int
    sha256: str
    scan: antivirus.ScanResult | None = None


def _spool(name: str, fileobj: IO[bytes]) -> _Incoming:
    path = archive.safe_relative_path(name)
    digest = hashlib.sha256()
    size = 0
    spooled = tempfile.SpooledTemporaryFile(max_size=8 * 2**20)  # noqa: SIM115 (closed by caller)
    fileobj.seek(0)
    while chunk := fileobj.read(1 << 20):
        digest.update(chunk)
        size += len(chunk)
        spooled.write(chunk)
    spooled.seek(0)
    return _Incoming(path, spooled, size, digest.hexdigest())


def dce_add_files(
    *,
    consultation: Consultation,
    added_by: User,
    uploads: Sequence[tuple[str, IO[bytes]]],
    folder: str = "",
    unpack_zip: bool = True,
) -> list[DceFile]:
    """Add files to the working version of the DCE. A zip is unpacked safely (its tree is
    kept). Every file is scanned before anything is stored: if one is infected, or anything is
    wrong, nothing is imported and the infected files are named and journaled. A file with the
    same path replaces the previous one in the working version."""
    _require_buyer_staff(added_by, consultation.buyer)
    if not uploads:
        raise ApplicationError("Choisissez au moins un fichier.", code="validation")
    limits = archive.ArchiveLimits.from_settings()
    prefix = archive.safe_relative_path(folder) + "/" if folder.strip("/ ") else ""
    incoming: list[_Incoming] = []
    try:
        for name, fileobj in uploads:
            if unpack_zip and name.lower().endswith(".zip"):
                fileobj.seek(0)
                incoming.extend(
                    _Incoming(f"{prefix}{member.path}", member.file, member.size, member.sha256)
                    for member in archive.extract_zip(fileobj, limits=limits)
                )
            else:
                item = _spool(name, fileobj)
                item.path = prefix + item.path
                incoming.append(item)
        _check_batch(incoming, limits)
        for item in incoming:
            item.scan = antivirus.scan(item.file)
        infected = [item for item in incoming if item.scan.status == "infected"]
        if infected:
            with transaction.atomic():
                journal.record(
                    "dce.infected_refused",
                    actor=added_by,
                    organisation=consultation.buyer,
                    target=consultation,
                    payload={
                        "files": [
                            {"path": i.path, "sha256": i.sha256, "signature": i.scan.signature}
                            for i in infected
                        ]
                    },
                )
            names = ", ".join(f"« {i.path} » ({i.scan.signature})" for i in infected)
            raise ApplicationError(
                f"Fichier infecté refusé : {names}. Aucun fichier de cet envoi n'a été importé ; "
                "retirez le fichier infecté et recommencez.",
                code="infected",
                details={"infected": [i.path for i in infected]},
            )
        return _dce_store(consultation, added_by, incoming)
    finally:
        for item in incoming:
            item.file.close()


def _check_batch(incoming: list[_Incoming], limits: archive.ArchiveLimits) -> None:
    _check_names(incoming, existing=())
    if not incoming:
        raise ApplicationError("L'envoi ne contient aucun fichier.", code="validation")
    if len(incoming) > limits.max_files:
        raise ApplicationError(f"Un envoi compte au plus {limits.max_files} fichiers.", code="too_many_files")
    total = sum(i.size for i in incoming)
    if total > limits.max_total_bytes:
        raise ApplicationError(
            f"L'envoi dépasse la taille maximale de {limits.max_total_bytes // 2**20} Mo.", code="too_large"
        )


def _check_names(incoming: list[_Incoming], *, existing: Iterable[str]) -> None:
    """The zip's rule (marches.names) over the whole working version: no two elements that
    Windows or macOS would take for one, whichever uploads they came from. A file with exactly
    the same path replaces the previous one, so it does not count as already there."""
    paths = [i.path for i in incoming]
    replaced = set(paths)
    kept = PathTree(path for path in existing if path not in replaced)
    added = PathTree()
    for path in paths:
        clash = added.add(path)
        subject = "L'envoi contient"
        if clash is None:
            clash, subject = kept.clash(path), "Le DCE contiendrait"
        if clash:
            raise ApplicationError(
                f"{clash.message(subject)} Aucun fichier n'a été importé.",
                code="duplicate_path",
                details={"path": clash.second},
            )


@transaction.atomic
def _dce_store(consultation: Consultation, added_by: User, incoming: list[_Incoming]) -> list[DceFile]:
    consultation = _lock(consultation)
    version = dce_working_version(consultation, by=added_by)
    # Checked again here, under the consultation's lock and before any blob is stored: another
    # upload may have added its files while this one was being scanned.
    _check_names(incoming, existing=version.files.values_list("path", flat=True))
    created = []
    for item in incoming:
        blob = storage.store_blob(item.file, item.sha256)
        replaced = version.files.filter(path=item.path).first()
        if replaced:
            replaced.delete()
        dce_file = DceFile(
            version=version,
            path=item.path,
            size=item.size,
            sha256=item.sha256,
            blob=blob,
            scan_status=DceFile.ScanStatus.CLEAN
            if item.scan.status == "clean"
            else DceFile.ScanStatus.NOT_SCANNED,
            uploaded_by=added_by,
        )
        full_clean_and_save(dce_file)
        created.append(dce_file)
    journal.record(
        "dce.files_added",
        actor=added_by,
        organisation=consultation.buyer,
        target=consultation,
        payload={
            "version": version.number,
            "files": [
                {"path": f.path, "size": f.size, "sha256": f.sha256, "scan": f.scan_status} for f in created
            ],
        },
    )
    return created


@transaction.atomic
def dce_unscanned_accept(
    *, consultation: Consultation, accepted_by: User, reason: str, now: datetime | None = None
) -> DceUnscannedAcceptance:
    """The buyer decides to publish the working version's files that no antivirus analysed
    (no clamd when they were imported), and says why. Staff who may publish (administrators
    and agents of the buyer) only; journaled. The decision covers the files unscanned now,
    by path and digest (checks.unscanned_files): one imported later needs its own."""
    _require_buyer_staff(accepted_by, consultation.buyer)
    consultation = _lock(consultation)
    version = consultation.dce_versions.filter(published_at__isnull=True).first()
    pending = checks.unscanned_files(version)[0] if version else []
    if not pending:
        raise ApplicationError(
            "Aucun document du DCE en préparation n'attend de décision : tous ont été analysés "
            "par l'antivirus, ou leur publication sans analyse est déjà acceptée.",
            code="nothing_unscanned",
            status=409,
        )
    reason = reason.strip()
    if not reason:
        message = "Indiquez pourquoi vous acceptez de publier ces documents sans analyse antivirus."
        raise ApplicationError(message, code="validation", details={"reason": [message]})
    acceptance = DceUnscannedAcceptance(
        version=version,
        accepted_by=accepted_by,
        accepted_at=now or timezone.now(),
        reason=reason,
        files=[{"path": f.path, "sha256": f.sha256} for f in pending],
    )
    full_clean_and_save(acceptance)
    journal.record(
        "dce.unscanned_accepted",
        actor=accepted_by,
        organisation=consultation.buyer,
        target=consultation,
        payload={"version": version.number, "reason": reason, "files": acceptance.files},
    )
    return acceptance


@transaction.atomic
def dce_remove_file(*, dce_file: DceFile, removed_by: User) -> None:
    version = dce_file.version
    consultation = version.consultation
    _require_buyer_staff(removed_by, consultation.buyer)
    if version.is_published:
        raise ApplicationError(
            "Une version publiée du DCE ne change plus : préparez une nouvelle version.",
            code="dce_frozen",
            status=409,
        )
    journal.record(
        "dce.file_removed",
        actor=removed_by,
        organisation=consultation.buyer,
        target=consultation,
        payload={"version": version.number, "path": dce_file.path, "sha256": dce_file.sha256},
    )
    dce_file.delete()


@transaction.atomic
def dce_download_record(
    *,
    consultation: Consultation,
    version: DceVersion,
    dce_file: DceFile | None = None,
    user: User | None = None,
    name: str = "",
    company_name: str = "",
    email: str = "",
) -> DceDownload | None:
    """Record an identified download in the register. Anonymous downloads leave no trace."""
    organisation = None
    if user is not None and user.is_authenticated:
        name = name or user.get_full_name()
        email = user.email
        membership = (
            Membership.objects.filter(user=user, organisation__kind=Organisation.Kind.COMPANY)
            .select_related("organisation")
            .first()
        )
        organisation = membership.organisation if membership else None
        company_name = organisation.name if organisation else company_name
    else:
        user = None
    if not email:
        return None
    download = DceDownload(
        consultation=consultation,
        version=version,
        file=dce_file,
        user=user,
        organisation=organisation,
        name=name.strip(),
        company_name=company_name.strip(),
        email=email.strip().lower(),
    )
    full_clean_and_save(download)
    journal.record(
        "dce.downloaded",
        actor=user,
        organisation=organisation,
        target=consultation,
        payload={
            "version": version.number,
            "file": dce_file.path if dce_file else None,
            "email": download.email,
            "company": download.company_name,
        },
    )
    return download


# --- The platform's test consultation -----------------------------------------------------

TEST_CONSULTATION_REFERENCE = "TEST-DEPOT"
TEST_SYSTEM_EMAIL = "consultation-de-test@plateforme.invalid"


def test_consultation_get_or_create() -> Consultation:
    """The permanent test consultation where any company rehearses a deposit (« simuler un
    dépôt »), created on first use: its buyer is the platform itself (settings
    TEST_CONSULTATION_SIRET, fourteen zeros by default: visibly no real body), created by a
    system account that cannot log in. It is never listed, never closes, is never opened by
    a commission and never awarded; no buyer's staff manage it (managed_by excludes it).
    Two first uses at once: one creates it, the other finds it."""
    existing = Consultation.objects.filter(is_test=True).first()
    if existing is not None:
        return existing
    try:
        return _test_consultation_create()
    except IntegrityError:
        return Consultation.objects.get(is_test=True)


@transaction.atomic
def _test_consultation_create() -> Consultation:
    buyer = Organisation.objects.filter(siret=settings.TEST_CONSULTATION_SIRET).first()
    if buyer is None:
        buyer = Organisation.objects.create(
            kind=Organisation.Kind.BUYER,
            siret=settings.TEST_CONSULTATION_SIRET,
            name=f"{settings.PLATFORM_NAME} — consultation de test",
            country="FR",
        )
    elif buyer.kind != Organisation.Kind.BUYER:
        raise ApplicationError(
            f"Le SIRET de la consultation de test ({settings.TEST_CONSULTATION_SIRET}, réglage "
            "TEST_CONSULTATION_SIRET) est celui d'une entreprise inscrite : choisissez celui de "
            "l'exploitant.",
            code="test_consultation",
            status=409,
        )
    system, created = User.objects.get_or_create(
        email=TEST_SYSTEM_EMAIL,
        defaults={"first_name": "Consultation", "last_name": "de test", "is_active": False},
    )
    if created:
        system.set_unusable_password()
        system.save(update_fields=["password"])
    now = timezone.now()
    consultation = Consultation.objects.create(
        buyer=buyer,
        reference=TEST_CONSULTATION_REFERENCE,
        title="Consultation de test — simuler un dépôt",
        description=(
            "Consultation permanente de la plateforme pour vérifier, avant une vraie date limite, que "
            "votre navigateur, votre réseau et vos fichiers permettent de déposer un pli. La plateforme "
            "déchiffre aussitôt les plis déposés ici et vérifie que chaque fichier est arrivé intact. "
            "Elle n'est jamais attribuée."
        ),
        nature=Consultation.Nature.SERVICES,
        procedure=Consultation.Procedure.ADAPTED,
        cpv_main=CpvCode.objects.get(code="72000000"),
        place_code="75",
        estimated_value=Decimal("0.01"),
        deadline=datetime(2099, 12, 31, 22, 59, tzinfo=UTC),
        max_deposit_bytes=settings.TEST_CONSULTATION_MAX_BYTES,
        contact_name=settings.PLATFORM_NAME,
        contact_email=parseaddr(settings.DEFAULT_FROM_EMAIL)[1],
        state=State.PUBLISHED,
        created_by=system,
        published_at=now,
        published_by=system,
        is_test=True,
    )
    journal.record(
        "consultation.test_created",
        actor=None,
        organisation=buyer,
        target=consultation,
        payload={"reference": consultation.reference},
    )
    return consultation
