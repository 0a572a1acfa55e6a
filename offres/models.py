from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models


class Envelope(models.TextChoices):
    APPLICATION = "application", "candidature"
    OFFER = "offer", "offre"


class OpeningKey(models.Model):
    """The key that opens one envelope of one consultation's deposits. Bidders encrypt to
    `recipient` (published); the matching `age` identity is kept only sealed (ChaCha20-Poly1305)
    under a key-encryption key that exists nowhere but as `threshold`-of-n Shamir shares,
    one sealed to each commission member."""

    consultation = models.ForeignKey(
        "marches.Consultation", on_delete=models.PROTECT, related_name="opening_keys"
    )
    envelope = models.CharField("enveloppe", max_length=20, choices=Envelope.choices)
    recipient = models.CharField("destinataire age", max_length=100)
    sealed_identity = models.BinaryField("identité scellée")
    threshold = models.PositiveSmallIntegerField("parts nécessaires")
    share_count = models.PositiveSmallIntegerField("parts")
    # Only for the platform's test consultation (offres/simulation.py): the identity is sealed
    # under a key the platform derives from its secret, so that it decrypts test deposits at
    # once. Never for a real consultation, whose keys always need the commission's quorum.
    platform_held = models.BooleanField("clé détenue par la plateforme (test)", default=False)
    created_at = models.DateTimeField("date")

    class Meta:
        verbose_name = "clé d'ouverture"
        verbose_name_plural = "clés d'ouverture"
        ordering = ["consultation", "envelope"]
        constraints = [
            models.UniqueConstraint(fields=["consultation", "envelope"], name="one_opening_key_per_envelope"),
            models.CheckConstraint(
                condition=models.Q(
                    platform_held=False, threshold__gte=2, share_count__gte=models.F("threshold")
                )
                | models.Q(platform_held=True, threshold=0, share_count=0),
                name="opening_key_threshold",
            ),
            models.CheckConstraint(
                condition=models.Q(recipient__startswith="age1"), name="opening_key_is_age"
            ),
        ]

    def __str__(self) -> str:
        return f"clé d'ouverture ({self.get_envelope_display()}) de {self.consultation}"


class KeyShare(models.Model):
    """One member's share of an opening key's key-encryption key, sealed (as an `age` file) to
    the recipient derived from their ceremony passphrase. `commitment` is published: the
    SHA-256 of the share bound to its key, index and member, so a share brought to the
    ceremony is checked before it is used."""

    opening_key = models.ForeignKey(OpeningKey, on_delete=models.PROTECT, related_name="shares")
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="key_shares")
    ceremony_key = models.ForeignKey("comptes.CeremonyKey", on_delete=models.PROTECT, related_name="shares")
    index = models.PositiveSmallIntegerField("rang de la part")
    sealed_share = models.BinaryField("part scellée")
    commitment = models.CharField("engagement (SHA-256)", max_length=64)

    class Meta:
        verbose_name = "part de clé d'ouverture"
        verbose_name_plural = "parts de clé d'ouverture"
        ordering = ["opening_key", "index"]
        constraints = [
            models.UniqueConstraint(fields=["opening_key", "member"], name="one_share_per_member"),
            models.UniqueConstraint(fields=["opening_key", "index"], name="one_share_per_index"),
        ]

    def __str__(self) -> str:
        return f"part n° {self.index} de {self.member}"


class DepositQuerySet(models.QuerySet):
    def received(self):
        """Received deposits, in time or late: every one has its leaf in the log."""
        return self.filter(state=Deposit.State.RECEIVED)

    def of_company_member(self, user):
        """The deposits of the companies `user` belongs to: all a company user may see."""
        return self.filter(company__memberships__user=user).distinct()


class Deposit(models.Model):
    """A pli: what one company sends for one consultation, one or more lots. Opened as an
    upload session, received when finalised; several deposits per company are kept.
    An upload never finalised may be abandoned (by the company, or by the clean-up a set time
    after the deadline, offres/deposits.py): its stored chunks are deleted, its rows kept as
    the record of what was announced. A received deposit is never abandoned."""

    class State(models.TextChoices):
        UPLOADING = "uploading", "envoi en cours"
        RECEIVED = "received", "reçu"
        ABANDONED = "abandoned", "abandonné"

    public_id = models.UUIDField("identifiant", unique=True, editable=False)
    consultation = models.ForeignKey(
        "marches.Consultation", on_delete=models.PROTECT, related_name="deposits"
    )
    company = models.ForeignKey("comptes.Organisation", on_delete=models.PROTECT, related_name="deposits")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    lots = models.ManyToManyField("marches.Lot", blank=True, related_name="deposits")
    state = models.CharField("état", max_length=20, choices=State.choices, default=State.UPLOADING)
    started_at = models.DateTimeField("début de l'envoi")
    received_at = models.DateTimeField("date de réception", null=True, blank=True)
    abandoned_at = models.DateTimeField("abandonné le", null=True, blank=True)
    late = models.BooleanField("hors délai", default=False)
    # Set at reception: the manifest (who, for what, which files with their digests) whose
    # SHA-256 is timestamped and appended to the transparency log.
    manifest = models.JSONField("bordereau", null=True, blank=True)
    digest = models.CharField("empreinte du bordereau (SHA-256)", max_length=64, blank=True)
    timestamp = models.OneToOneField(
        "preuves.TimestampToken", on_delete=models.PROTECT, null=True, blank=True, related_name="deposit"
    )
    log_index = models.PositiveBigIntegerField("rang dans le journal de transparence", null=True, blank=True)
    # The nonce of the log leaf's commitment (offres/commitments.py): with the facts, it opens
    # the commitment. Never public before the opening: the receipt carries it to the company,
    # and it is kept here so the receipt can be issued again and the opening minutes list it.
    commitment_nonce = models.CharField("aléa de l'engagement (hex)", max_length=64, blank=True)
    # Only on the test consultation: what the platform found when it decrypted the deposit
    # at once (offres/simulation.py), per file; computed once, after reception.
    test_report = models.JSONField("contrôle du pli de test", null=True, blank=True)

    objects = DepositQuerySet.as_manager()

    class Meta:
        verbose_name = "pli"
        verbose_name_plural = "plis"
        ordering = ["started_at"]
        constraints = [
            # Each state has its time, and only its own: an abandoned deposit was never received.
            models.CheckConstraint(
                condition=models.Q(state="uploading", received_at__isnull=True, abandoned_at__isnull=True)
                | models.Q(state="received", received_at__isnull=False, abandoned_at__isnull=True)
                | models.Q(state="abandoned", received_at__isnull=True, abandoned_at__isnull=False),
                name="deposit_state_has_its_time",
            ),
            # A received deposit has its log leaf, whose commitment only this nonce opens.
            models.CheckConstraint(
                condition=models.Q(state__in=["uploading", "abandoned"], commitment_nonce="")
                | models.Q(state="received", commitment_nonce__regex=r"^[0-9a-f]{64}$"),
                name="deposit_received_has_commitment_nonce",
            ),
        ]

    def __str__(self) -> str:
        return f"pli {self.public_id} de {self.company}"


class DepositFile(models.Model):
    """One encrypted file of a deposit, uploaded in chunks. `size` is announced first (the
    age ciphertext's size is known before encryption ends); `received` is how many bytes are
    stored, so an interrupted upload resumes there."""

    deposit = models.ForeignKey(Deposit, on_delete=models.PROTECT, related_name="files")
    envelope = models.CharField("enveloppe", max_length=20, choices=Envelope.choices)
    name = models.CharField("nom du fichier", max_length=255)
    size = models.PositiveBigIntegerField("taille annoncée (octets)")
    received = models.PositiveBigIntegerField("octets reçus", default=0)
    sha256 = models.CharField("SHA-256 du chiffré", max_length=64, blank=True)
    header_length = models.PositiveIntegerField("longueur de l'en-tête age", null=True, blank=True)
    # The running SHA-256 of the bytes received so far (OpenSSL's SHA256_CTX, offres/digests.py),
    # so that any web process resumes it with the next chunk; cleared at completion.
    sha256_state = models.BinaryField("état du SHA-256 en cours", null=True, blank=True)
    created_at = models.DateTimeField("date")
    completed_at = models.DateTimeField("reçu en entier le", null=True, blank=True)

    class Meta:
        verbose_name = "fichier de pli"
        verbose_name_plural = "fichiers de pli"
        ordering = ["deposit", "envelope", "name"]
        constraints = [
            models.UniqueConstraint(fields=["deposit", "envelope", "name"], name="deposit_file_unique_name"),
            models.CheckConstraint(
                condition=models.Q(received__lte=models.F("size")), name="deposit_file_not_over"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_envelope_display()})"

    @property
    def complete(self) -> bool:
        return self.completed_at is not None


class DepositChunk(models.Model):
    """One stored piece of a file, in order: any web process may receive any chunk."""

    file = models.ForeignKey(DepositFile, on_delete=models.PROTECT, related_name="chunks")
    offset = models.PositiveBigIntegerField("position")
    size = models.PositiveIntegerField("taille")
    storage_name = models.CharField("objet stocké", max_length=300)
    received_at = models.DateTimeField("date")

    class Meta:
        verbose_name = "morceau de fichier"
        verbose_name_plural = "morceaux de fichier"
        ordering = ["file", "offset"]
        constraints = [models.UniqueConstraint(fields=["file", "offset"], name="deposit_chunk_unique_offset")]

    def __str__(self) -> str:
        return f"{self.file} @ {self.offset}"


SHA256_HEX = RegexValidator(
    r"^[0-9a-f]{64}\Z",
    message="L'empreinte SHA-256 doit comporter exactement 64 caractères hexadécimaux (chiffres 0 à 9 et "
    "lettres a à f).",
    code="sha256_format",
)


class BackupMedium(models.TextChoices):
    USB = "usb", "clé USB"
    OPTICAL = "optical", "CD/DVD-ROM"
    EXTERNAL_DISK = "external_disk", "disque dur externe"
    PAPER = "paper", "support papier"
    OTHER = "other", "autre"


class BackupCopy(models.Model):
    """A copie de sauvegarde (article R2132-11 du code de la commande publique): a sealed copy
    of an electronic bid, sent on a physical medium, registered by buyer staff on arrival. It
    stays sealed; the opening ceremony opens it only in the cases the law allows."""

    consultation = models.ForeignKey(
        "marches.Consultation", on_delete=models.PROTECT, related_name="backup_copies"
    )
    # Linked when the company is known to the platform (it deposited, or its identifier is a
    # registered company's); the name as written on the package is kept in any case.
    company = models.ForeignKey(
        "comptes.Organisation",
        verbose_name="entreprise inscrite",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="backup_copies",
        limit_choices_to={"kind": "company"},
    )
    company_name = models.CharField("entreprise (telle qu'écrite sur le pli)", max_length=255)
    company_identifier = models.CharField("SIRET ou numéro de TVA", max_length=50, blank=True)
    arrived_at = models.DateTimeField("arrivée le")
    medium = models.CharField("support", max_length=20, choices=BackupMedium.choices)
    medium_detail = models.CharField("précision sur le support", max_length=200, blank=True)
    sha256 = models.CharField("empreinte SHA-256", max_length=64, blank=True, validators=[SHA256_HEX])
    late = models.BooleanField("hors délai", default=False)
    registered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name="enregistrée par",
        on_delete=models.PROTECT,
        related_name="+",
    )
    registered_at = models.DateTimeField("enregistrée le")
    note = models.TextField("observations", blank=True)

    class Meta:
        verbose_name = "copie de sauvegarde"
        verbose_name_plural = "copies de sauvegarde"
        ordering = ["consultation", "arrived_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(company_name=""),
                name="backup_copy_has_company_name",
                violation_error_message="Indiquez le nom de l'entreprise, tel qu'écrit sur le pli.",
            ),
            models.CheckConstraint(
                condition=models.Q(medium__in=BackupMedium.values),
                name="backup_copy_known_medium",
                violation_error_message="Support inconnu.",
            ),
            # Digests are compared as text at the ceremony: one spelling only.
            models.CheckConstraint(
                condition=models.Q(sha256="") | models.Q(sha256__regex=r"^[0-9a-f]{64}$"),
                name="backup_copy_sha256_hex",
                violation_error_message=SHA256_HEX.message,
            ),
            models.CheckConstraint(
                condition=models.Q(arrived_at__lte=models.F("registered_at")),
                name="backup_copy_arrived_before_registered",
                violation_error_message="La date d'arrivée ne peut pas être dans le futur.",
            ),
        ]

    def __str__(self) -> str:
        return f"copie de sauvegarde de {self.company_name}"

    def clean(self) -> None:
        if self.medium == BackupMedium.OTHER and not self.medium_detail.strip():
            raise ValidationError({"medium_detail": "Précisez le support de la copie de sauvegarde."})
