"""The rules checked before a consultation is published.

One function builds the whole report, so that the publication page shows exactly what the
publication service enforces: every error blocks, warnings are shown and do not block.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from comptes.models import Membership

from . import rules
from .models import Consultation, DceFile, DceUnscannedAcceptance, DceVersion

ERROR = "error"
WARNING = "warning"
OK = "ok"


@dataclass(frozen=True)
class Check:
    code: str
    level: str  # "ok", "warning" or "error"
    title: str
    message: str


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    def add(self, code: str, level: str, title: str, message: str) -> None:
        self.checks.append(Check(code, level, title, message))

    @property
    def errors(self) -> list[Check]:
        return [c for c in self.checks if c.level == ERROR]

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if c.level == WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors


def total_value(consultation: Consultation) -> Decimal:
    """The value that counts against the thresholds: all lots together."""
    lots = list(consultation.lots.all())
    if lots:
        return sum((lot.estimated_value for lot in lots), Decimal(0))
    return consultation.estimated_value


def unscanned_files(version: DceVersion | None) -> tuple[list[DceFile], list[DceUnscannedAcceptance]]:
    """The version's files no antivirus analysed that no acceptance covers yet, and the
    acceptances that cover some of its files now."""
    if version is None:
        return [], []
    unscanned = list(version.files.filter(scan_status=DceFile.ScanStatus.NOT_SCANNED).order_by("path"))
    acceptances = list(version.unscanned_acceptances.select_related("accepted_by"))
    pending = [f for f in unscanned if not any(a.covers(f) for a in acceptances)]
    used = [a for a in acceptances if any(a.covers(f) for f in unscanned)]
    return pending, used


def publication_report(consultation: Consultation, *, at: datetime | None = None) -> Report:
    at = at or timezone.now()
    day = timezone.localdate(at)
    report = Report()
    value = total_value(consultation)

    # 1. Dematerialisation threshold: the dated rule in force on the day of publication is
    # both the legal obligation and the platform's floor (one source, marches/rules.py).
    legal = rules.dematerialisation_threshold_on(day)
    if legal is None:
        report.add(
            "threshold_dematerialisation",
            ERROR,
            "Seuil de dématérialisation",
            f"Aucun seuil de dématérialisation connu pour le {day:%d/%m/%Y}.",
        )
    elif value < legal.amount:
        report.add(
            "threshold_dematerialisation",
            ERROR,
            "Seuil de dématérialisation",
            f"La valeur estimée ({rules.euros(value)} HT) est inférieure à {rules.euros(legal.amount)} HT, "
            f"seuil du dépôt électronique sur un profil d'acheteur ({legal.source}, "
            f"{legal.period.label()}) : la plateforme ne publie que les consultations à partir de ce "
            "montant ; en dessous, le dépôt électronique n'est pas obligatoire.",
        )
    else:
        report.add(
            "threshold_dematerialisation",
            OK,
            "Seuil de dématérialisation",
            f"{rules.euros(value)} HT : dépôt électronique obligatoire à partir de "
            f"{rules.euros(legal.amount)} HT ({legal.source}, {legal.period.label()}).",
        )

    # 2. European threshold: a procédure adaptée only below it.
    try:
        thresholds = rules.eu_thresholds_on(day)
    except rules.RuleNotFoundError as exc:
        report.add("threshold_eu", ERROR, "Seuils européens", str(exc))
    else:
        eu = thresholds.for_contract(nature=consultation.nature, authority_type=consultation.authority_type)
        where = (
            f"seuil européen de {rules.euros(eu)} HT pour ce type de marché, applicable "
            f"{thresholds.period.label()} ({thresholds.source})"
        )
        if consultation.procedure == rules.ADAPTED and value >= eu:
            report.add(
                "threshold_eu",
                ERROR,
                "Choix de la procédure",
                f"La valeur estimée de l'ensemble des lots ({rules.euros(value)} HT) atteint le {where} : "
                "une procédure adaptée n'est pas possible (article R2123-1 du code de la commande "
                "publique). Choisissez une procédure formalisée.",
            )
        else:
            position = "atteint" if value >= eu else "est inférieure au"
            report.add(
                "threshold_eu",
                OK,
                "Choix de la procédure",
                f"La valeur estimée ({rules.euros(value)} HT) {position} {where}.",
            )

    # 3. Deadline: in the future, and far enough for the procedure.
    deadline = consultation.deadline
    if deadline <= at:
        report.add(
            "deadline",
            ERROR,
            "Date limite de remise des plis",
            "La date limite de remise des plis est passée : choisissez une date à venir.",
        )
    else:
        days = (timezone.localdate(deadline) - day).days
        limit = rules.minimum_time_limit(
            procedure=consultation.procedure, authority_type=consultation.authority_type, day=day
        )
        if limit and days < limit.days:
            report.add(
                "deadline",
                ERROR,
                "Délai de remise des plis",
                f"Publiée aujourd'hui, la consultation laisserait {days} jour(s) pour remettre les "
                f"{limit.what} ; le minimum est de {limit.days} jours ({limit.article}).",
            )
        elif limit is None and days < rules.ADAPTED_RECOMMENDED_DAYS:
            report.add(
                "deadline",
                WARNING,
                "Délai de remise des plis",
                f"{days} jour(s) seulement entre la publication et la date limite. Aucun minimum "
                "légal en procédure adaptée, mais le délai doit laisser aux entreprises le temps "
                f"de préparer leur offre (article R2151-1) : {rules.ADAPTED_RECOMMENDED_DAYS} jours "
                "sont l'usage.",
            )
        else:
            report.add(
                "deadline",
                OK,
                "Délai de remise des plis",
                f"{days} jours entre la publication et la date limite"
                + (f" (minimum {limit.days} jours, {limit.article})." if limit else "."),
            )

    # 4. Commission: n members holding a share, k among them open, a president.
    seats = list(
        consultation.commission.select_related("member__totp_device").prefetch_related(
            "member__ceremony_keys"
        )
    )
    members = [seat.member for seat in seats]
    n, k = len(members), consultation.quorum
    still_members = set(
        Membership.objects.filter(
            organisation=consultation.buyer,
            role=Membership.Role.COMMISSION_MEMBER,
            user__in=members,
        ).values_list("user_id", flat=True)
    )
    problems = []
    if n < 2:
        problems.append("désignez au moins deux membres de la commission")
    if not 2 <= k <= max(n, 2):
        problems.append(f"le quorum doit être compris entre 2 et le nombre de membres ({n})")
    if n and not any(seat.is_president for seat in seats):
        problems.append("désignez le président de la commission")
    gone = [m.get_full_name() or m.email for m in members if m.pk not in still_members]
    if gone:
        problems.append("ne sont plus membres de la commission de l'acheteur : " + ", ".join(gone))
    without_2fa = [m.get_full_name() or m.email for m in members if not m.has_two_factor]
    if without_2fa:
        problems.append(
            "n'ont pas encore activé la double authentification : "
            + ", ".join(without_2fa)
            + " (chaque membre doit l'activer depuis « Mon compte » avant la publication)"
        )
    without_passphrase = [
        m.get_full_name() or m.email
        for m in members
        if not any(k.retired_at is None for k in m.ceremony_keys.all())
    ]
    if without_passphrase:
        problems.append(
            "n'ont pas encore choisi leur phrase de passe de séance : "
            + ", ".join(without_passphrase)
            + " (chaque membre la choisit depuis « Mon compte » : elle scelle sa part de la clé d'ouverture)"
        )
    if problems:
        report.add(
            "commission",
            ERROR,
            "Commission d'ouverture",
            "Commission incomplète : " + " ; ".join(problems) + ".",
        )
    else:
        report.add(
            "commission",
            OK,
            "Commission d'ouverture",
            f"{n} membres détiennent une part de la clé d'ouverture ; {k} d'entre eux devront être "
            "présents pour ouvrir les plis.",
        )

    # 5. DCE: something to download.
    version = consultation.dce_versions.filter(published_at__isnull=True).first()
    files = DceFile.objects.filter(version=version).count() if version else 0
    if not files:
        report.add("dce", ERROR, "Dossier de consultation", "Ajoutez au moins un document au DCE.")
    else:
        report.add("dce", OK, "Dossier de consultation", f"{files} document(s) seront publiés (version 1).")

    # 5b. Antivirus: a file no antivirus analysed is never « conforme » by default. It blocks
    # until clamd scans it (imported again with a scanner) or the buyer accepts to publish it
    # unscanned, with a reason (services.dce_unscanned_accept); the acceptance stays shown.
    if files:
        pending, accepted = unscanned_files(version)
        if pending:
            names = ", ".join(f.path for f in pending)
            report.add(
                "dce_scan",
                ERROR,
                "Analyse antivirus du DCE",
                f"{len(pending)} document(s) n'ont été analysés par aucun antivirus (aucun analyseur "
                f"n'était disponible à leur import) : {names}. Importez-les à nouveau quand "
                "l'antivirus est disponible ou, si vous les avez vérifiés vous-même, acceptez de les "
                "publier sans analyse en indiquant pourquoi (page « Publication »).",
            )
        elif accepted:
            report.add(
                "dce_scan",
                WARNING,
                "Analyse antivirus du DCE",
                " ".join(
                    f"{len(a.files)} document(s) publiés sans analyse antivirus, accepté par "
                    f"{a.accepted_by.get_full_name() or a.accepted_by.email} le "
                    f"{timezone.localtime(a.accepted_at):%d/%m/%Y à %H:%M} : « {a.reason} »."
                    for a in accepted
                ),
            )
        else:
            report.add(
                "dce_scan",
                OK,
                "Analyse antivirus du DCE",
                "Chaque document a été analysé par l'antivirus, sans menace détectée.",
            )

    # 6. Lots: a multi-lot consultation has at least two.
    lot_count = consultation.lots.count()
    if lot_count == 1:
        report.add(
            "lots",
            ERROR,
            "Lots",
            "Une consultation allotie compte au moins deux lots ; sinon, supprimez le lot.",
        )
    return report
