"""Backup copies (copies de sauvegarde, article R2132-11 du code de la commande publique).

A company that bids electronically may also send, on a physical medium (USB key, DVD, paper…),
a sealed copy of its bid marked « copie de sauvegarde ». Buyer staff register its arrival
here: who sent it (the name as written on the package, linked to a registered company when
one is known), when it arrived, on which medium, and the SHA-256 digest written on or with
it, if any. A copy that arrived at or after the deadline is flagged late, as deposits are.

Nothing here opens a copy: that belongs to the opening ceremony, and only in the cases the
law allows (malware found in the electronic bid, or an electronic bid missing, incomplete or
unreadable).
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from comptes.models import Organisation, User
from config.errors import ApplicationError, full_clean_and_save
from marches.models import Consultation
from preuves import journal

from .models import BackupCopy

PARIS = ZoneInfo("Europe/Paris")
IDENTIFIER_NOISE = re.compile(r"[\s.\-]")


def normalise_identifier(value: str) -> str:
    """« 732 829 320 00074 », « de 136.695.976 » → as identifiers are registered: compact,
    upper case."""
    return IDENTIFIER_NOISE.sub("", value or "").upper()


def registered_company(identifier: str) -> Organisation | None:
    """The one registered company with this SIRET, VAT number or national id, if any."""
    if not identifier:
        return None
    found = list(
        Organisation.objects.companies().filter(
            Q(siret=identifier) | Q(vat_number=identifier) | Q(national_id=identifier)
        )[:2]
    )
    return found[0] if len(found) == 1 else None


def depositors(consultation: Consultation):
    """Companies that opened a deposit for the consultation, received or not: an electronic
    bid cut off before it was received is one of the cases a backup copy is there for."""
    return (
        Organisation.objects.companies()
        .filter(pk__in=consultation.deposits.values("company_id"))
        .order_by("name", "pk")
    )


def paris_minute(moment: datetime) -> str:
    """« 02/12/2026 à 14:30 (heure de Paris) »: arrivals are typed to the minute."""
    return f"{timezone.localtime(moment, PARIS):%d/%m/%Y à %H:%M} (heure de Paris)"


def _refuse_arrival(message: str) -> ApplicationError:
    return ApplicationError(message, code="validation", details={"arrived_at": [message]})


@transaction.atomic
def backup_copy_register(
    *,
    consultation: Consultation,
    user: User,
    company_name: str,
    company_identifier: str,
    arrived_at: datetime,
    medium: str,
    medium_detail: str,
    sha256: str,
    note: str,
    company: Organisation | None = None,
) -> BackupCopy:
    """Register the arrival of a backup copy; `late` is fixed now, against the deadline of
    now (under the consultation's lock, as for deposits)."""
    consultation = (
        Consultation.objects.select_for_update(of=("self",), no_key=True)
        .select_related("buyer")
        .get(pk=consultation.pk)
    )
    if not Organisation.objects.staffed_by(user).filter(pk=consultation.buyer_id).exists():
        raise ApplicationError(
            "Seuls les administrateurs et agents de l'acheteur enregistrent ses copies de sauvegarde.",
            code="forbidden",
            status=403,
        )
    if consultation.is_draft:
        raise ApplicationError(
            "Cette consultation n'est pas publiée : aucune copie de sauvegarde ne peut lui être destinée.",
            code="not_published",
            status=409,
        )
    now = timezone.now()
    if arrived_at > now:
        raise _refuse_arrival("La date d'arrivée ne peut pas être dans le futur.")
    # The form reads minutes: a copy arrived in the minute of publication is not refused.
    if arrived_at < consultation.published_at.replace(second=0, microsecond=0):
        raise _refuse_arrival(
            "La date d'arrivée ne peut pas précéder la publication de la consultation, le "
            f"{paris_minute(consultation.published_at)}."
        )
    identifier = normalise_identifier(company_identifier)
    if company is not None and company.kind != Organisation.Kind.COMPANY:
        raise ApplicationError(
            "Une copie de sauvegarde est envoyée par une entreprise.",
            code="validation",
            details={"company": ["Choisissez une entreprise."]},
        )
    copy = BackupCopy(
        consultation=consultation,
        company=company or registered_company(identifier),
        company_name=(company_name or "").strip(),
        company_identifier=identifier,
        arrived_at=arrived_at,
        medium=medium,
        medium_detail=(medium_detail or "").strip(),
        sha256=(sha256 or "").strip(),
        late=arrived_at >= consultation.deadline,
        registered_by=user,
        registered_at=now,
        note=(note or "").strip(),
    )
    full_clean_and_save(copy)
    journal.record(
        "backup_copy.registered",
        actor=user,
        organisation=consultation.buyer,
        target=copy,
        # The facts themselves, in the hash-chained journal: a row edited later would no
        # longer match what was registered.
        payload={
            "consultation": consultation.pk,
            "company_name": copy.company_name,
            "company_identifier": copy.company_identifier,
            "company": copy.company_id,
            "arrived_at": copy.arrived_at.isoformat(),
            "late": copy.late,
            "medium": copy.medium,
            "medium_detail": copy.medium_detail,
            "sha256": copy.sha256,
        },
    )
    return copy


def backup_copies(consultation: Consultation) -> list[BackupCopy]:
    """The consultation's backup copies, in order of arrival."""
    return list(
        consultation.backup_copies.select_related("company", "registered_by").order_by("arrived_at", "pk")
    )
