"""Consultations, lots, CPV codes, the commission, the DCE and the download register."""

from __future__ import annotations

import re
from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone

from comptes.models import Organisation

from . import rules

# --- CPV --------------------------------------------------------------------------------


def cpv_prefix(code: str) -> str:
    """The prefix shared by a CPV code and its descendants: trailing zeros removed, keeping at
    least the division (two digits). 45000000 → "45", 45210000 → "4521"."""
    stripped = code.rstrip("0")
    return stripped if len(stripped) >= 2 else code[:2]


class CpvCode(models.Model):
    """One code of the CPV 2008 main vocabulary (Regulation (EC) No 213/2008). Loaded from the
    official list by a data migration; the list, not the 7-1-3 formula, is the authority on
    check digits."""

    code = models.CharField("code", max_length=8, primary_key=True)
    check_digit = models.CharField("chiffre de contrôle", max_length=1)
    label_fr = models.CharField("libellé", max_length=400)
    label_en = models.CharField("libellé (anglais)", max_length=400)

    class Meta:
        verbose_name = "code CPV"
        verbose_name_plural = "codes CPV"
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.full_code} {self.label_fr}"

    @property
    def full_code(self) -> str:
        return f"{self.code}-{self.check_digit}"

    @property
    def prefix(self) -> str:
        return cpv_prefix(self.code)


CPV_INPUT = re.compile(r"^\s*(\d{8})(?:\s*-\s*(\d))?\s*$")


def parse_cpv(value: str) -> CpvCode:
    """A CPV code typed by a person ("45210000-2", "45210000") checked against the list."""
    match = CPV_INPUT.match(value or "")
    if not match:
        raise ValidationError(
            "« %(value)s » n'est pas un code CPV : 8 chiffres, suivis d'un tiret et du chiffre de "
            "contrôle (par exemple 45210000-2).",
            params={"value": value},
            code="cpv_format",
        )
    code, digit = match.groups()
    cpv = CpvCode.objects.filter(code=code).first()
    if cpv is None:
        raise ValidationError(
            "Le code CPV %(value)s n'existe pas dans la nomenclature CPV 2008.",
            params={"value": code},
            code="cpv_unknown",
        )
    if digit is not None and digit != cpv.check_digit:
        raise ValidationError(
            "Le chiffre de contrôle de %(code)s est %(expected)s, pas %(digit)s (%(label)s).",
            params={"code": code, "expected": cpv.check_digit, "digit": digit, "label": cpv.label_fr},
            code="cpv_check_digit",
        )
    return cpv


# --- Places ------------------------------------------------------------------------------

DEPARTEMENTS = frozenset(
    [f"{n:02d}" for n in range(1, 96) if n != 20] + ["2A", "2B", "971", "972", "973", "974", "976"]
)


def departement_of(place_code: str) -> str:
    """Département of a place of execution given as a département code ("35", "2A", "974") or
    a commune INSEE code ("35238")."""
    code = (place_code or "").strip().upper()
    if code in DEPARTEMENTS:
        return code
    if re.fullmatch(r"(\d{5}|2[AB]\d{3})", code):
        dept = code[:3] if code.startswith("97") else code[:2]
        if dept in DEPARTEMENTS:
            return dept
    raise ValidationError(
        "« %(value)s » n'est ni un numéro de département (35, 2A, 974) ni un code commune INSEE (35238).",
        params={"value": place_code},
        code="place",
    )


# --- Consultation -------------------------------------------------------------------------


class ConsultationQuerySet(models.QuerySet):
    def public(self) -> ConsultationQuerySet:
        """What anyone may read: everything ever published, except archives and the
        platform's test consultation (it has its own page, « simuler un dépôt »)."""
        return self.depositable().filter(is_test=False)

    def depositable(self) -> ConsultationQuerySet:
        """Where a company may open a deposit: every published consultation (a deposit after
        the deadline is kept, flagged late), the test consultation included."""
        return self.exclude(state__in=[Consultation.State.DRAFT, Consultation.State.ARCHIVED])

    def open_for_deposits(self, now=None) -> ConsultationQuerySet:
        return self.filter(
            state=Consultation.State.PUBLISHED, deadline__gt=now or timezone.now(), is_test=False
        )

    def for_buyer(self, organisation: Organisation) -> ConsultationQuerySet:
        return self.filter(buyer=organisation)

    def managed_by(self, user) -> ConsultationQuerySet:
        """Consultations a buyer's admin or agent may edit: those of their organisations."""
        # A subquery rather than a join: no DISTINCT, so the paginator's count stays cheap.
        return self.filter(buyer__in=Organisation.objects.staffed_by(user).values("pk"), is_test=False)

    def due_for_closing(self, now=None) -> ConsultationQuerySet:
        return self.filter(state=Consultation.State.PUBLISHED, deadline__lte=now or timezone.now())

    def with_cpv(self, cpv: CpvCode | str) -> ConsultationQuerySet:
        """Main or additional CPV code equal to the code or one of its descendants."""
        code = cpv.code if isinstance(cpv, CpvCode) else cpv
        prefix = cpv_prefix(code)
        additional = Consultation.cpv_additional.through.objects.filter(cpvcode__code__startswith=prefix)
        # `__code` on the key itself: Django compares the column without a join, which the
        # varchar_pattern_ops indexes serve; `pk__in` beats a correlated EXISTS on PostgreSQL.
        return self.filter(
            models.Q(cpv_main__code__startswith=prefix)
            | models.Q(pk__in=additional.values("consultation_id"))
        )

    def search(self, query: str) -> ConsultationQuerySet:
        """Full-text search on title and description: PostgreSQL's French text search in
        production, every word as a case-insensitive substring on SQLite."""
        query = (query or "").strip()
        if not query:
            return self
        from django.db import connection

        if connection.vendor == "postgresql":
            from django.contrib.postgres.search import SearchQuery, SearchRank

            search_query = SearchQuery(query, config="french", search_type="websearch")
            return self.filter(search_vector=search_query).annotate(
                rank=SearchRank(models.F("search_vector"), search_query)
            )
        result = self
        for word in query.split()[:10]:
            result = result.filter(models.Q(title__icontains=word) | models.Q(description__icontains=word))
        return result.annotate(rank=models.Value(0.0, output_field=models.FloatField()))


class Consultation(models.Model):
    """A procurement procedure published by a buyer."""

    class State(models.TextChoices):
        DRAFT = "draft", "Brouillon"
        PUBLISHED = "published", "Publiée"
        CLOSED = "closed", "Clôturée"
        OPENED = "opened", "Plis ouverts"
        AWARDED = "awarded", "Attribuée"
        UNSUCCESSFUL = "unsuccessful", "Infructueuse"
        DISCONTINUED = "discontinued", "Sans suite"
        ARCHIVED = "archived", "Archivée"

    class Nature(models.TextChoices):
        WORKS = rules.WORKS, "Travaux"
        SUPPLIES = rules.SUPPLIES, "Fournitures"
        SERVICES = rules.SERVICES, "Services"

    class Procedure(models.TextChoices):
        ADAPTED = rules.ADAPTED, "Procédure adaptée"
        OPEN = rules.OPEN, "Appel d'offres ouvert"
        RESTRICTED = rules.RESTRICTED, "Appel d'offres restreint"
        NEGOTIATED = rules.NEGOTIATED, "Procédure avec négociation"
        COMPETITIVE_DIALOGUE = rules.COMPETITIVE_DIALOGUE, "Dialogue compétitif"

    class AuthorityType(models.TextChoices):
        CENTRAL = rules.CENTRAL, "État et établissements publics nationaux"
        LOCAL = rules.LOCAL, "Collectivité territoriale ou autre pouvoir adjudicateur"
        UTILITIES = rules.UTILITIES, "Entité adjudicatrice (opérateur de réseaux)"
        DEFENCE = rules.DEFENCE, "Marché de défense ou de sécurité"

    buyer = models.ForeignKey(
        Organisation,
        verbose_name="acheteur",
        on_delete=models.PROTECT,
        related_name="consultations",
        limit_choices_to={"kind": Organisation.Kind.BUYER},
    )
    reference = models.CharField("référence", max_length=50)
    title = models.CharField("objet", max_length=300)
    description = models.TextField("description")
    nature = models.CharField("nature", max_length=12, choices=Nature.choices)
    procedure = models.CharField("procédure", max_length=24, choices=Procedure.choices)
    authority_type = models.CharField(
        "type d'acheteur", max_length=12, choices=AuthorityType.choices, default=AuthorityType.LOCAL
    )
    cpv_main = models.ForeignKey(
        CpvCode, verbose_name="code CPV principal", on_delete=models.PROTECT, related_name="+"
    )
    cpv_additional = models.ManyToManyField(
        CpvCode, verbose_name="codes CPV complémentaires", blank=True, related_name="+"
    )
    place_code = models.CharField("lieu d'exécution", max_length=5)
    departement = models.CharField("département", max_length=3, editable=False, db_index=True)
    estimated_value = models.DecimalField(
        "valeur estimée (€ HT)",
        max_digits=14,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01"))],
    )
    deadline = models.DateTimeField("date limite de remise des plis")
    questions_deadline = models.DateTimeField("date limite des questions", null=True, blank=True)
    variants_allowed = models.BooleanField("variantes autorisées", default=False)
    two_step_opening = models.BooleanField(
        "ouverture en deux temps (candidatures, puis offres)", default=False
    )
    max_deposit_bytes = models.PositiveBigIntegerField("taille maximale d'un pli (octets)")
    contact_name = models.CharField("contact", max_length=150)
    contact_email = models.EmailField("e-mail du contact")
    contact_phone = models.CharField("téléphone du contact", max_length=30, blank=True)
    quorum = models.PositiveSmallIntegerField("quorum d'ouverture", default=2)

    state = models.CharField("état", max_length=12, choices=State.choices, default=State.DRAFT)
    created_at = models.DateTimeField("créée le", default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="créée par", on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField("modifiée le", default=timezone.now)
    published_at = models.DateTimeField("publiée le", null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="publiée par",
        on_delete=models.PROTECT,
        related_name="+",
        null=True,
        blank=True,
    )
    # The platform's permanent test consultation (offres/simulation.py): any company rehearses
    # a deposit there; its key is held by the platform, it is never listed nor awarded.
    is_test = models.BooleanField("consultation de test", default=False, editable=False)
    # Filled on PostgreSQL only (French text search); unused on SQLite.
    search_vector = SearchVectorField(null=True, editable=False)

    objects = ConsultationQuerySet.as_manager()

    class Meta:
        verbose_name = "consultation"
        ordering = ["-published_at", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["buyer", "reference"],
                name="consultation_reference_unique_per_buyer",
                violation_error_message="Une consultation de cet acheteur porte déjà cette référence.",
            ),
            models.CheckConstraint(condition=models.Q(quorum__gte=2), name="consultation_quorum_min_2"),
            models.CheckConstraint(
                condition=models.Q(estimated_value__gt=0), name="consultation_value_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(questions_deadline__isnull=True)
                | models.Q(questions_deadline__lte=models.F("deadline")),
                name="consultation_questions_before_deadline",
                violation_error_message="La date limite des questions doit précéder la date limite "
                "de remise des plis.",
            ),
            models.CheckConstraint(
                condition=models.Q(state="draft") | models.Q(published_at__isnull=False),
                name="consultation_published_has_date",
            ),
            models.CheckConstraint(
                condition=models.Q(max_deposit_bytes__gt=0), name="consultation_max_deposit_positive"
            ),
            models.UniqueConstraint(
                fields=["is_test"], condition=models.Q(is_test=True), name="one_test_consultation"
            ),
        ]
        indexes = [
            models.Index(fields=["state", "deadline"]),
            models.Index(fields=["state", "-published_at"]),
            models.Index(fields=["buyer", "state"]),
            models.Index(fields=["nature", "state"]),
            models.Index(fields=["procedure", "state"]),
        ]

    def __str__(self) -> str:
        return f"{self.reference} — {self.title}"

    def get_absolute_url(self) -> str:
        return reverse("marches:detail", args=[self.pk])

    def clean(self) -> None:
        if self.place_code:
            self.place_code = self.place_code.strip().upper()
            try:
                self.departement = departement_of(self.place_code)
            except ValidationError as exc:
                raise ValidationError({"place_code": exc}) from None
        limit = settings.DEPOSIT_MAX_BYTES_LIMIT
        if self.max_deposit_bytes and self.max_deposit_bytes > limit:
            raise ValidationError(
                {"max_deposit_bytes": f"La plateforme accepte des plis d'au plus {limit // 2**20} Mo."}
            )

    @property
    def current_state(self) -> str:
        """The state as of now: a published consultation whose deadline has passed is closed
        even before the periodic task records it, so nothing ever accepts a late deposit as
        if it were on time."""
        if self.state == self.State.PUBLISHED and self.deadline <= timezone.now():
            return self.State.CLOSED
        return self.state

    def get_current_state_display(self) -> str:
        return self.State(self.current_state).label

    @property
    def is_draft(self) -> bool:
        return self.state == self.State.DRAFT

    @property
    def is_open_for_deposits(self) -> bool:
        return self.current_state == self.State.PUBLISHED

    @property
    def rules_date(self):
        """Rules apply as on the publication day (today for a draft)."""
        moment = self.published_at or timezone.now()
        return timezone.localdate(moment)

    @property
    def is_formalised(self) -> bool:
        return self.procedure in rules.FORMALISED_PROCEDURES


class Lot(models.Model):
    consultation = models.ForeignKey(Consultation, on_delete=models.CASCADE, related_name="lots")
    number = models.PositiveSmallIntegerField("numéro", validators=[MinValueValidator(1)])
    title = models.CharField("intitulé", max_length=300)
    description = models.TextField("description", blank=True)
    cpv = models.ForeignKey(
        CpvCode, verbose_name="code CPV", on_delete=models.PROTECT, related_name="+", null=True, blank=True
    )
    estimated_value = models.DecimalField(
        "valeur estimée (€ HT)",
        max_digits=14,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0.01"))],
    )

    class Meta:
        verbose_name = "lot"
        ordering = ["consultation", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["consultation", "number"],
                name="lot_number_unique",
                violation_error_message="Deux lots portent le même numéro.",
            ),
            models.CheckConstraint(condition=models.Q(number__gte=1), name="lot_number_positive"),
            models.CheckConstraint(condition=models.Q(estimated_value__gt=0), name="lot_value_positive"),
        ]

    def __str__(self) -> str:
        return f"Lot {self.number} — {self.title}"


class CommissionSeat(models.Model):
    """A commission member who will hold a share of this consultation's opening key."""

    consultation = models.ForeignKey(Consultation, on_delete=models.CASCADE, related_name="commission")
    member = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="membre", on_delete=models.PROTECT)
    is_president = models.BooleanField("président", default=False)

    class Meta:
        verbose_name = "siège de la commission"
        verbose_name_plural = "commission"
        ordering = ["-is_president", "member__last_name", "member__first_name"]
        constraints = [
            models.UniqueConstraint(fields=["consultation", "member"], name="commission_member_once"),
            models.UniqueConstraint(
                fields=["consultation"],
                condition=models.Q(is_president=True),
                name="commission_one_president",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.member} ({'président' if self.is_president else 'membre'})"


# --- DCE --------------------------------------------------------------------------------


class DceVersion(models.Model):
    """One version of the tender documents. The working version (not yet published) is edited
    by the buyer's staff; publishing freezes it and the previous versions stay available."""

    consultation = models.ForeignKey(Consultation, on_delete=models.PROTECT, related_name="dce_versions")
    number = models.PositiveIntegerField("version")
    created_at = models.DateTimeField("créée le", default=timezone.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    published_at = models.DateTimeField("publiée le", null=True, blank=True)
    note = models.TextField("nature des modifications", blank=True)

    class Meta:
        verbose_name = "version du DCE"
        verbose_name_plural = "versions du DCE"
        ordering = ["consultation", "number"]
        constraints = [
            models.UniqueConstraint(fields=["consultation", "number"], name="dce_version_unique"),
            models.UniqueConstraint(
                fields=["consultation"],
                condition=models.Q(published_at__isnull=True),
                name="dce_one_working_version",
            ),
        ]

    def __str__(self) -> str:
        return f"DCE v{self.number}"

    @property
    def is_published(self) -> bool:
        return self.published_at is not None


class DceFile(models.Model):
    class ScanStatus(models.TextChoices):
        CLEAN = "clean", "Analysé, sain"
        NOT_SCANNED = "not_scanned", "Non analysé"

    version = models.ForeignKey(DceVersion, on_delete=models.PROTECT, related_name="files")
    path = models.CharField("chemin", max_length=1024)
    size = models.PositiveBigIntegerField("taille (octets)")
    sha256 = models.CharField("SHA-256", max_length=64)
    # Content-addressed: identical content is stored once and shared between versions.
    blob = models.CharField("objet stocké", max_length=200)
    scan_status = models.CharField("analyse antivirus", max_length=12, choices=ScanStatus.choices)
    uploaded_at = models.DateTimeField("déposé le", default=timezone.now)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = "fichier du DCE"
        verbose_name_plural = "fichiers du DCE"
        ordering = ["version", "path"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "path"],
                name="dce_file_path_unique",
                violation_error_message="Un fichier du DCE porte déjà ce nom.",
            ),
        ]

    def __str__(self) -> str:
        return self.path

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


class DceUnscannedAcceptance(models.Model):
    """A buyer's decision to publish DCE files that no antivirus analysed (no clamd when they
    were imported), with its reason. It covers the files listed, by path and digest: a file
    imported or replaced afterwards needs a scan or a decision of its own."""

    version = models.ForeignKey(DceVersion, on_delete=models.PROTECT, related_name="unscanned_acceptances")
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name="accepté par", on_delete=models.PROTECT, related_name="+"
    )
    accepted_at = models.DateTimeField("accepté le", default=timezone.now)
    reason = models.TextField("motif")
    # [{"path": …, "sha256": …}, …]: the files the decision is about.
    files = models.JSONField("documents")

    class Meta:
        verbose_name = "publication sans analyse antivirus"
        verbose_name_plural = "publications sans analyse antivirus"
        ordering = ["version", "accepted_at"]
        constraints = [
            models.CheckConstraint(condition=~models.Q(reason=""), name="dce_unscanned_acceptance_reason"),
        ]

    def __str__(self) -> str:
        return f"{self.version} : {len(self.files)} document(s) sans analyse"

    def covers(self, dce_file: DceFile) -> bool:
        return {"path": dce_file.path, "sha256": dce_file.sha256} in self.files


class DceDownload(models.Model):
    """The download register (registre des retraits). Downloading is free and may be
    anonymous, and an anonymous download leaves no trace; a logged-in company user, or a
    visitor who leaves a name and an e-mail address, is recorded so that later changes to the
    DCE can be notified to them."""

    consultation = models.ForeignKey(Consultation, on_delete=models.PROTECT, related_name="downloads")
    version = models.ForeignKey(DceVersion, on_delete=models.PROTECT, related_name="downloads")
    file = models.ForeignKey(DceFile, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    organisation = models.ForeignKey(
        Organisation, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    name = models.CharField("nom", max_length=150, blank=True)
    company_name = models.CharField("entreprise", max_length=255, blank=True)
    email = models.EmailField("e-mail", blank=True)
    created_at = models.DateTimeField("date", default=timezone.now)

    class Meta:
        verbose_name = "retrait du DCE"
        verbose_name_plural = "registre des retraits"
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["consultation", "-created_at"])]
        constraints = [
            models.CheckConstraint(condition=~models.Q(email=""), name="dce_download_identified"),
        ]

    def __str__(self) -> str:
        return f"{self.email} — {self.consultation_id} v{self.version_id}"
