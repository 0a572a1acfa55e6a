"""Users, organisations, memberships, invitations, second factors and API tokens."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django_countries.fields import CountryField

from .emails import DatabaseNormalForm, normalise_email, validate_ascii_local_part
from .identifiers import is_eu_country, normalise_siret, normalise_vat, validate_siret, validate_vat


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def get_by_natural_key(self, username: str) -> User:
        # Exact match on the normal form: the key django-axes counts failures under.
        return self.get(email=normalise_email(username))

    @classmethod
    def normalize_email(cls, email: str | None) -> str:
        return normalise_email(email or "")

    def create_user(self, email: str, password: str | None = None, **extra) -> User:
        user = self.model(email=self.normalize_email(email), **extra)
        user.set_password(password)
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        extra.setdefault("email_verified_at", timezone.now())
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person. Logs in with their e-mail address; belongs to organisations through
    memberships."""

    email = models.EmailField(
        "adresse e-mail",
        max_length=254,
        unique=True,
        validators=[validate_ascii_local_part],
        error_messages={"unique": "Un compte existe déjà avec cette adresse e-mail."},
    )
    first_name = models.CharField("prénom", max_length=150)
    last_name = models.CharField("nom", max_length=150)
    is_active = models.BooleanField("actif", default=True)
    is_staff = models.BooleanField("administrateur de la plateforme", default=False)
    date_joined = models.DateTimeField("inscrit le", default=timezone.now)
    email_verified_at = models.DateTimeField("adresse vérifiée le", null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["first_name", "last_name"]

    class Meta:
        verbose_name = "utilisateur"
        constraints = [
            # With `unique`, no two accounts share a normal form, whatever the spelling typed.
            models.CheckConstraint(
                condition=models.Q(email=DatabaseNormalForm("email")),
                name="user_email_normal_form",
                violation_error_message="L'adresse e-mail n'est pas enregistrée sous sa forme normalisée.",
            ),
        ]

    def __str__(self) -> str:
        return self.email

    @classmethod
    def normalize_username(cls, username: str) -> str:
        return normalise_email(username) if isinstance(username, str) else username

    def clean_fields(self, exclude=None) -> None:
        # Validators, the unique check and the constraints all see the normal form.
        if isinstance(self.email, str):
            self.email = normalise_email(self.email)
        super().clean_fields(exclude=exclude)

    def get_full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def get_short_name(self) -> str:
        return self.first_name

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    def requires_two_factor(self) -> bool:
        """Second factor is mandatory for platform staff and anyone in a buyer organisation
        (agents, admins, commission members); optional for companies."""
        if self.is_staff or self.is_superuser:
            return True
        return self.memberships.filter(organisation__kind=Organisation.Kind.BUYER).exists()

    @property
    def has_two_factor(self) -> bool:
        device = getattr(self, "totp_device", None)
        return device is not None and device.confirmed_at is not None

    @property
    def ceremony_key(self) -> CeremonyKey | None:
        """The current key derived from this user's ceremony passphrase, if they set one."""
        return self.ceremony_keys.filter(retired_at__isnull=True).first()


class OrganisationQuerySet(models.QuerySet):
    def buyers(self) -> OrganisationQuerySet:
        return self.filter(kind=Organisation.Kind.BUYER)

    def companies(self) -> OrganisationQuerySet:
        return self.filter(kind=Organisation.Kind.COMPANY)

    def visible_to(self, user) -> OrganisationQuerySet:
        """Organisations a user belongs to. Anything else answers 404."""
        if not user.is_authenticated:
            return self.none()
        return self.filter(memberships__user=user).distinct()

    def staffed_by(self, user) -> OrganisationQuerySet:
        """Buyers in which the user is an administrator or an agent."""
        if not user.is_authenticated:
            return self.none()
        return (
            self.buyers()
            .filter(memberships__user=user, memberships__role__in=Membership.BUYER_STAFF_ROLES)
            .distinct()
        )

    def administered_by(self, user) -> OrganisationQuerySet:
        if not user.is_authenticated:
            return self.none()
        return self.filter(memberships__user=user, memberships__role__in=Membership.ADMIN_ROLES).distinct()


class Organisation(models.Model):
    """A buyer (acheteur) or a company (entreprise). French organisations are identified by
    their SIRET; foreign companies by an EU VAT number or a national identifier."""

    class Kind(models.TextChoices):
        BUYER = "buyer", "Acheteur"
        COMPANY = "company", "Entreprise"

    kind = models.CharField("type", max_length=10, choices=Kind.choices)
    name = models.CharField("raison sociale", max_length=255)
    country = CountryField("pays", default="FR")
    siret = models.CharField("SIRET", max_length=14, null=True, blank=True)
    vat_number = models.CharField("numéro de TVA intracommunautaire", max_length=20, null=True, blank=True)
    national_id = models.CharField("identifiant national", max_length=50, null=True, blank=True)
    address = models.TextField("adresse", blank=True)
    created_at = models.DateTimeField("créée le", default=timezone.now)

    objects = OrganisationQuerySet.as_manager()

    class Meta:
        verbose_name = "organisation"
        constraints = [
            models.UniqueConstraint(
                fields=["siret"],
                name="organisation_siret_unique",
                violation_error_message="Une organisation est déjà inscrite avec ce SIRET.",
            ),
            models.UniqueConstraint(
                fields=["vat_number"],
                name="organisation_vat_unique",
                violation_error_message="Une organisation est déjà inscrite avec ce numéro de TVA.",
            ),
            models.UniqueConstraint(
                fields=["country", "national_id"],
                name="organisation_national_id_unique",
                violation_error_message="Une organisation est déjà inscrite avec cet identifiant.",
            ),
            # A French organisation has a SIRET; a foreign one a VAT number or national id.
            models.CheckConstraint(
                condition=(
                    models.Q(country="FR", siret__isnull=False)
                    | (
                        ~models.Q(country="FR")
                        & models.Q(siret__isnull=True)
                        & (models.Q(vat_number__isnull=False) | models.Q(national_id__isnull=False))
                    )
                ),
                name="organisation_identified",
                violation_error_message=(
                    "Une organisation française doit avoir un SIRET ; une organisation étrangère "
                    "un numéro de TVA ou un identifiant national."
                ),
            ),
            # Buyers are French public bodies.
            models.CheckConstraint(
                condition=~models.Q(kind="buyer") | models.Q(country="FR"),
                name="organisation_buyer_french",
                violation_error_message="Un acheteur est un organisme public français (SIRET).",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean_fields(self, exclude=None) -> None:
        # Identifiers are typed with spaces and dots: compact them before length checks.
        if self.siret:
            self.siret = normalise_siret(self.siret)
        if self.vat_number:
            self.vat_number = normalise_vat(self.vat_number)
        if self.national_id:
            self.national_id = self.national_id.strip().upper()
        super().clean_fields(exclude=exclude)

    def clean(self) -> None:
        errors: dict[str, str] = {}
        country = str(self.country)
        if country == "FR":
            if not self.siret:
                errors["siret"] = "Le SIRET est obligatoire pour une organisation française."
            self.national_id = None
        else:
            self.siret = None
            if not (self.vat_number or self.national_id):
                errors["vat_number"] = (
                    "Indiquez le numéro de TVA intracommunautaire ou, à défaut, l'identifiant "
                    "national de l'entreprise."
                )
            if self.vat_number and not is_eu_country(country):
                errors["vat_number"] = (
                    "Le numéro de TVA intracommunautaire n'existe que pour les pays de l'Union "
                    "européenne : indiquez l'identifiant national."
                )
        if self.siret and "siret" not in errors:
            try:
                validate_siret(self.siret)
            except ValidationError as exc:
                errors["siret"] = exc.messages[0]
        if self.vat_number and "vat_number" not in errors:
            try:
                validate_vat(self.vat_number, country)
            except ValidationError as exc:
                errors["vat_number"] = exc.messages[0]
        if errors:
            raise ValidationError(errors)

    @property
    def identifier(self) -> str:
        if self.siret:
            return f"SIRET {self.siret}"
        if self.vat_number:
            return f"TVA {self.vat_number}"
        return f"{self.national_id} ({self.country.code})"

    @property
    def is_buyer(self) -> bool:
        return self.kind == self.Kind.BUYER

    def allowed_roles(self) -> list[str]:
        return Membership.BUYER_ROLES if self.is_buyer else Membership.COMPANY_ROLES

    def role_choices(self) -> list[tuple[str, str]]:
        return [(role, Membership.Role(role).label) for role in self.allowed_roles()]


class Membership(models.Model):
    """A person's role in an organisation. One role per person and organisation."""

    class Role(models.TextChoices):
        BUYER_ADMIN = "buyer_admin", "Administrateur de l'acheteur"
        BUYER_AGENT = "buyer_agent", "Agent de l'acheteur"
        COMMISSION_MEMBER = "commission_member", "Membre de la commission"
        COMPANY_ADMIN = "company_admin", "Administrateur de l'entreprise"
        COMPANY_MEMBER = "company_member", "Collaborateur de l'entreprise"

    BUYER_ROLES = [Role.BUYER_ADMIN, Role.BUYER_AGENT, Role.COMMISSION_MEMBER]
    COMPANY_ROLES = [Role.COMPANY_ADMIN, Role.COMPANY_MEMBER]
    ADMIN_ROLES = [Role.BUYER_ADMIN, Role.COMPANY_ADMIN]
    # Who manages a buyer's consultations (commission members only open bids).
    BUYER_STAFF_ROLES = [Role.BUYER_ADMIN, Role.BUYER_AGENT]

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="memberships")
    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="memberships")
    role = models.CharField("rôle", max_length=20, choices=Role.choices)
    created_at = models.DateTimeField("depuis le", default=timezone.now)

    class Meta:
        verbose_name = "appartenance"
        constraints = [
            models.UniqueConstraint(
                fields=["user", "organisation"],
                name="membership_unique",
                violation_error_message="Cette personne est déjà membre de l'organisation.",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    role__in=[
                        "buyer_admin",
                        "buyer_agent",
                        "commission_member",
                        "company_admin",
                        "company_member",
                    ]
                ),
                name="membership_role_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} ({self.organisation})"

    @property
    def is_admin(self) -> bool:
        return self.role in self.ADMIN_ROLES


class InvitationQuerySet(models.QuerySet):
    def pending(self) -> InvitationQuerySet:
        return self.filter(accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now())


class Invitation(models.Model):
    """An invitation to join an organisation with a role. The token is sent by e-mail and
    only its SHA-256 is stored."""

    organisation = models.ForeignKey(Organisation, on_delete=models.PROTECT, related_name="invitations")
    email = models.EmailField("adresse e-mail", validators=[validate_ascii_local_part])
    role = models.CharField("rôle", max_length=20, choices=Membership.Role.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(User, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField("expire le")
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        verbose_name = "invitation"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(email=DatabaseNormalForm("email")),
                name="invitation_email_normal_form",
                violation_error_message="L'adresse e-mail n'est pas enregistrée sous sa forme normalisée.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.email} → {self.organisation}"

    def clean_fields(self, exclude=None) -> None:
        if isinstance(self.email, str):
            self.email = normalise_email(self.email)
        super().clean_fields(exclude=exclude)

    @property
    def status_label(self) -> str:
        if self.accepted_at:
            return "acceptée"
        if self.revoked_at:
            return "annulée"
        if self.expires_at <= timezone.now():
            return "expirée"
        return "en attente"


class TOTPDevice(models.Model):
    """A TOTP second factor (RFC 6238, 30 s steps). `last_used_step` is the last accepted
    time step: a code from that step or an earlier one is refused, so a code cannot be
    replayed even inside its validity window."""

    user = models.OneToOneField(User, on_delete=models.CASCADE, related_name="totp_device")
    secret = models.CharField(max_length=64)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    last_used_step = models.BigIntegerField(default=0)
    failed_attempts = models.PositiveSmallIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "second facteur"

    def __str__(self) -> str:
        return f"TOTP de {self.user}"


class RecoveryCode(models.Model):
    """A single-use recovery code. Shown once; only its SHA-256 is kept (the codes are
    random with 80 bits of entropy, so a fast hash is enough)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=64, unique=True)
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "code de secours"

    def __str__(self) -> str:
        return f"code de secours de {self.user_id}"


class ApiTokenQuerySet(models.QuerySet):
    def active(self) -> ApiTokenQuerySet:
        return self.filter(revoked_at__isnull=True)


class ApiToken(models.Model):
    """A personal API token. The secret is shown once at creation; only its SHA-256 is kept,
    with a short prefix so the owner can recognise it in the list."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField("nom", max_length=100)
    prefix = models.CharField(max_length=12)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = "jeton d'API"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class CeremonyKey(models.Model):
    """What the platform keeps of a commission member's ceremony passphrase: the Argon2id
    salt and parameters, and the public half (an `age` X25519 recipient) of the key they
    derive. Shares of opening keys are sealed to that recipient at publication; only the
    passphrase, typed at the opening ceremony, rebuilds the private half. Neither the
    passphrase nor the private key is stored. A new passphrase retires the previous key,
    which stays for the shares already sealed to it."""

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="ceremony_keys")
    created_at = models.DateTimeField("date")
    salt = models.BinaryField("sel Argon2id", max_length=16)
    time_cost = models.PositiveIntegerField("Argon2id : passes")
    memory_cost = models.PositiveIntegerField("Argon2id : mémoire (Kio)")
    parallelism = models.PositiveSmallIntegerField("Argon2id : parallélisme")
    recipient = models.CharField("destinataire age", max_length=100)
    retired_at = models.DateTimeField("remplacée le", null=True, blank=True)

    class Meta:
        verbose_name = "clé de séance"
        verbose_name_plural = "clés de séance"
        constraints = [
            models.UniqueConstraint(
                fields=["user"], condition=models.Q(retired_at__isnull=True), name="one_current_ceremony_key"
            ),
            models.CheckConstraint(
                condition=models.Q(recipient__startswith="age1"), name="ceremony_key_is_age"
            ),
        ]

    def __str__(self) -> str:
        return f"clé de séance de {self.user} ({self.created_at:%d/%m/%Y})"
