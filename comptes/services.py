"""Write-side use cases of accounts and organisations. Each one validates, writes, and
journals in the same transaction (STYLE.md §1)."""

from __future__ import annotations

import enum
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate, login
from django.core import signing
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from config.errors import ApplicationError, full_clean_and_save
from preuves import journal

from . import ceremony, secrets, totp
from .emails import normalise_email
from .models import (
    ApiToken,
    CeremonyKey,
    Invitation,
    Membership,
    Organisation,
    RecoveryCode,
    TOTPDevice,
    User,
)
from .network import client_ip

EMAIL_VERIFICATION_SALT = "comptes.email-verification"
RECOVERY_CODE_COUNT = 10
SESSION_2FA_VERIFIED = "2fa_verified"
SESSION_PENDING_LOGIN = "pending_login"
PENDING_LOGIN_MAX_AGE = 300


# --- Registration and e-mail verification --------------------------------------------


DUPLICATE_EMAIL_MESSAGE = (
    "Un compte existe déjà avec cette adresse e-mail. Connectez-vous ou utilisez « Mot de passe oublié »."
)


def _user_create(user: User, *, message: str) -> None:
    """Validate and save a new account. The unique index has the last word: an account
    created meanwhile with the same normal form ends in the same French refusal."""
    try:
        with transaction.atomic():
            full_clean_and_save(user)
    except IntegrityError:
        raise ApplicationError(message, code="duplicate_email") from None


@transaction.atomic
def company_register(
    *,
    email: str,
    password: str,
    first_name: str,
    last_name: str,
    organisation_name: str,
    country: str = "FR",
    siret: str | None = None,
    vat_number: str | None = None,
    national_id: str | None = None,
    request: HttpRequest | None = None,
) -> User:
    """A company signs up: its first user becomes its administrator. The user must verify
    their e-mail address before they can log in."""
    email = normalise_email(email)
    if User.objects.filter(email=email).exists():
        raise ApplicationError(DUPLICATE_EMAIL_MESSAGE, code="duplicate_email")
    organisation = Organisation(
        kind=Organisation.Kind.COMPANY,
        name=organisation_name.strip(),
        country=country,
        siret=siret or None,
        vat_number=vat_number or None,
        national_id=national_id or None,
    )
    full_clean_and_save(organisation)
    user = User(email=email, first_name=first_name.strip(), last_name=last_name.strip())
    user.set_password(password)
    _user_create(user, message=DUPLICATE_EMAIL_MESSAGE)
    Membership.objects.create(user=user, organisation=organisation, role=Membership.Role.COMPANY_ADMIN)
    journal.record(
        "account.registered",
        actor=user,
        organisation=organisation,
        target=user,
        payload={"ip": client_ip(request), "organisation": organisation.identifier},
    )
    transaction.on_commit(lambda: email_verification_send(user=user))
    return user


def email_verification_token(user: User) -> str:
    return signing.dumps({"u": user.pk, "e": user.email}, salt=EMAIL_VERIFICATION_SALT)


def email_verification_send(*, user: User) -> None:
    from .tasks import send_verification_email

    send_verification_email.delay(user.pk)


def email_verification_deliver(*, user: User) -> None:
    """Build and send the verification message (called by the task, with ids only)."""
    link = settings.SITE_URL + reverse("comptes:verify_email", args=[email_verification_token(user)])
    body = render_to_string("comptes/emails/verification.txt", {"user": user, "link": link})
    send_mail(
        f"{settings.PLATFORM_NAME} — confirmez votre adresse e-mail",
        body,
        settings.DEFAULT_FROM_EMAIL,
        [user.email],
    )


@transaction.atomic
def email_verify(*, token: str) -> User:
    try:
        data = signing.loads(
            token,
            salt=EMAIL_VERIFICATION_SALT,
            max_age=settings.EMAIL_VERIFICATION_MAX_AGE,
        )
    except signing.SignatureExpired:
        raise ApplicationError(
            "Ce lien de confirmation a expiré. Demandez-en un nouveau depuis la page de connexion.",
            code="expired",
            status=410,
        ) from None
    except signing.BadSignature:
        raise ApplicationError(
            "Ce lien de confirmation n'est pas valide. Vérifiez qu'il a été copié en entier.",
            code="invalid_token",
        ) from None
    user = User.objects.select_for_update().filter(pk=data["u"], email=data["e"]).first()
    if user is None:
        raise ApplicationError("Ce lien de confirmation n'est plus valide.", code="invalid_token")
    if not user.email_verified:
        user.email_verified_at = timezone.now()
        user.save(update_fields=["email_verified_at"])
        journal.record("account.email_verified", actor=user, target=user)
    return user


def email_verification_resend(*, email: str) -> None:
    """Always silent towards the caller: does not reveal whether an account exists."""
    user = User.objects.filter(email=normalise_email(email), email_verified_at__isnull=True).first()
    if user is not None:
        email_verification_send(user=user)


# --- Password reset --------------------------------------------------------------------


@transaction.atomic
def password_reset_requested(*, email: str, request: HttpRequest | None = None) -> None:
    """Journaled whether or not the address is known; the page says the same either way."""
    email = normalise_email(email)
    journal.record(
        "auth.password_reset_requested",
        target=User.objects.filter(email=email).first(),
        payload={"email": email, "ip": client_ip(request)},
    )


def password_reset_completed(*, user: User, request: HttpRequest | None = None) -> None:
    """Called inside the reset's transaction. A new password also lifts a login lockout."""
    from axes.handlers.proxy import AxesProxyHandler

    AxesProxyHandler.reset_attempts(username=user.email)
    journal.record("auth.password_reset", actor=user, target=user, payload={"ip": client_ip(request)})


# --- Login, second factor ------------------------------------------------------------


class LoginOutcome(enum.Enum):
    LOGGED_IN = "logged_in"
    SECOND_FACTOR = "second_factor"


def login_password(*, request: HttpRequest, email: str, password: str) -> LoginOutcome:
    """First step. Wrong credentials, a locked account and an unverified e-mail each end in
    an ApplicationError with its French message; the first two are journaled.

    The address is looked up by its normal form, and django-axes counts the failure under
    that same form (AXES_USERNAME_CALLABLE): every spelling of one address shares one
    counter, and a locked account refuses the right password whatever the spelling."""
    email = normalise_email(email)
    user = authenticate(request, username=email, password=password)
    if user is None:
        locked = bool(getattr(request, "axes_locked_out", False))
        with transaction.atomic():
            known = User.objects.filter(email=email).first()
            journal.record(
                "auth.lockout" if locked else "auth.login_failed",
                target=known,
                payload={"email": email, "ip": client_ip(request)},
            )
        if locked:
            raise ApplicationError(lockout_message(), code="locked", status=429)
        message = "Adresse e-mail ou mot de passe incorrect."
        if _login_attempts_left(request, email) == 1:
            message += " " + last_attempt_warning(settings.AXES_COOLOFF_TIME)
        raise ApplicationError(message, code="bad_credentials", status=401)
    if not user.email_verified:
        raise ApplicationError(
            "Votre adresse e-mail n'est pas encore confirmée : ouvrez le lien reçu par e-mail, "
            "ou demandez un nouveau lien ci-dessous.",
            code="email_unverified",
            status=403,
        )
    if user.has_two_factor:
        request.session[SESSION_PENDING_LOGIN] = {
            "user_id": user.pk,
            "backend": user.backend,
            "at": timezone.now().timestamp(),
        }
        return LoginOutcome.SECOND_FACTOR
    _login_complete(request=request, user=user, second_factor="none")
    return LoginOutcome.LOGGED_IN


def _login_attempts_left(request: HttpRequest, email: str) -> int:
    """Failures left before django-axes locks the account. Counted under the address typed,
    known or not, so that the warning says nothing about which addresses have an account."""
    from axes.handlers.proxy import AxesProxyHandler

    failures = AxesProxyHandler.get_failures(request, {settings.AXES_USERNAME_FORM_FIELD: email})
    return max(settings.AXES_FAILURE_LIMIT - failures, 0)


def last_attempt_warning(cooloff: timedelta) -> str:
    minutes = int(cooloff.total_seconds() // 60)
    return (
        "Attention : encore une tentative avant le verrouillage du compte pendant "
        f"{minutes} minutes. En cas de doute, utilisez « Mot de passe oublié »."
    )


def lockout_message() -> str:
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return (
        "Trop de tentatives de connexion infructueuses : ce compte est verrouillé pendant "
        f"{minutes} minutes. Réessayez plus tard, ou choisissez un nouveau mot de passe : "
        "cela lève le verrouillage."
    )


def pending_login_user(request: HttpRequest) -> User | None:
    """The user who passed the password step and owes a code: either a pending login, or a
    logged-in user whose session is not yet verified (e.g. they just joined a buyer)."""
    pending = request.session.get(SESSION_PENDING_LOGIN)
    if pending:
        if timezone.now().timestamp() - pending["at"] > PENDING_LOGIN_MAX_AGE:
            del request.session[SESSION_PENDING_LOGIN]
            return None
        return User.objects.filter(pk=pending["user_id"], is_active=True).first()
    if request.user.is_authenticated and not request.session.get(SESSION_2FA_VERIFIED):
        return request.user
    return None


def login_second_factor(*, request: HttpRequest, user: User, code: str) -> str:
    """Second step: a TOTP code or, failing that, a recovery code. Returns which was used
    ("totp" or "recovery_code")."""
    if secrets.normalise_code(code).count("-") >= 3:
        recovery_code_use(user=user, code=code, request=request)
        method = "recovery_code"
    else:
        totp_check(user=user, code=code, request=request)
        method = "totp"
    pending = request.session.pop(SESSION_PENDING_LOGIN, None)
    if pending:
        user.backend = pending["backend"]
    _login_complete(request=request, user=user, second_factor=method)
    return method


def _login_complete(*, request: HttpRequest, user: User, second_factor: str) -> None:
    if not (request.user.is_authenticated and request.user.pk == user.pk):
        login(request, user)
    else:
        request.session.cycle_key()
    request.session[SESSION_2FA_VERIFIED] = second_factor != "none"
    with transaction.atomic():
        journal.record(
            "auth.login",
            actor=user,
            target=user,
            payload={"second_factor": second_factor, "ip": client_ip(request)},
        )


class TotpResult(enum.Enum):
    OK = "ok"
    WRONG = "wrong"
    REPLAYED = "replayed"
    LOCKED = "locked"


TOTP_MALFORMED_MESSAGE = (
    "Ce code n'a pas le bon format : saisissez les 6 chiffres affichés par votre application "
    "(ou un code de secours, XXXX-XXXX-XXXX-XXXX). Cette saisie n'est pas comptée comme une "
    "tentative."
)
TOTP_LAST_ATTEMPT_WARNING = (
    "Attention : encore une tentative avant le blocage de la validation par second facteur "
    f"pendant {settings.TOTP_LOCK_MINUTES} minutes."
)
TOTP_MESSAGES = {
    TotpResult.WRONG: "Code incorrect. Saisissez le code à 6 chiffres affiché par votre application.",
    TotpResult.REPLAYED: (
        "Ce code a déjà été utilisé. Attendez le code suivant (il change toutes les 30 secondes)."
    ),
    TotpResult.LOCKED: (
        "Trop de codes incorrects : la validation par second facteur est bloquée pendant "
        f"{settings.TOTP_LOCK_MINUTES} minutes. Un code de secours reste accepté."
    ),
}


def _require_well_formed_totp(code: str) -> None:
    """Checked before the device is locked and its counter touched: a malformed code is a
    typing slip, not an attempt, and is neither counted nor journaled."""
    if not totp.is_well_formed(code):
        raise ApplicationError(TOTP_MALFORMED_MESSAGE, code="totp_malformed", status=400)


def _totp_refusal(result: TotpResult, device: TOTPDevice, *, status: int) -> ApplicationError:
    message = TOTP_MESSAGES[result]
    if result is not TotpResult.LOCKED and device.failed_attempts == settings.TOTP_MAX_FAILURES - 1:
        message += " " + TOTP_LAST_ATTEMPT_WARNING
    return ApplicationError(message, code=f"totp_{result.value}", status=status)


def _totp_attempt(*, device: TOTPDevice, code: str, request: HttpRequest | None) -> TotpResult:
    """Check a code against a locked device row and record the outcome (counter, journal).
    Commits either way: a failure must be counted even though the caller refuses the step."""
    now = timezone.now()
    if device.locked_until and device.locked_until > now:
        return TotpResult.LOCKED
    step = totp.matching_step(device.secret, code)
    if step is not None and step > device.last_used_step:
        device.last_used_step = step
        device.failed_attempts = 0
        device.locked_until = None
        device.save(update_fields=["last_used_step", "failed_attempts", "locked_until"])
        return TotpResult.OK
    result = TotpResult.REPLAYED if step is not None else TotpResult.WRONG
    device.failed_attempts += 1
    if device.failed_attempts >= settings.TOTP_MAX_FAILURES:
        device.locked_until = now + timedelta(minutes=settings.TOTP_LOCK_MINUTES)
        device.failed_attempts = 0
        result = TotpResult.LOCKED
    device.save(update_fields=["failed_attempts", "locked_until"])
    journal.record(
        {
            TotpResult.WRONG: "2fa.failed",
            TotpResult.REPLAYED: "2fa.replayed",
            TotpResult.LOCKED: "2fa.locked",
        }[result],
        actor=device.user,
        target=device.user,
        payload={"ip": client_ip(request)},
    )
    return result


def totp_check(*, user: User, code: str, request: HttpRequest | None = None) -> None:
    _require_well_formed_totp(code)
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .select_related("user")
            .get(user=user, confirmed_at__isnull=False)
        )
        result = _totp_attempt(device=device, code=code, request=request)
    if result is not TotpResult.OK:
        raise _totp_refusal(result, device, status=401)


def recovery_code_use(*, user: User, code: str, request: HttpRequest | None = None) -> None:
    with transaction.atomic():
        recovery = (
            RecoveryCode.objects.select_for_update()
            .filter(user=user, code_hash=secrets.digest(secrets.normalise_code(code)), used_at__isnull=True)
            .first()
        )
        if recovery is None:
            journal.record("2fa.recovery_failed", actor=user, target=user, payload={"ip": client_ip(request)})
        else:
            recovery.used_at = timezone.now()
            recovery.save(update_fields=["used_at"])
            remaining = RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()
            journal.record(
                "2fa.recovery_used",
                actor=user,
                target=user,
                payload={"ip": client_ip(request), "remaining": remaining},
            )
    if recovery is None:
        raise ApplicationError(
            "Code de secours incorrect ou déjà utilisé.", code="recovery_invalid", status=401
        )


@transaction.atomic
def totp_enrolment_start(*, user: User) -> TOTPDevice:
    """A new secret, not yet active: it becomes the second factor only once a code from it
    is confirmed. Re-starting replaces an unconfirmed secret, never a confirmed one."""
    device = TOTPDevice.objects.select_for_update().filter(user=user).first()
    if device is not None and device.confirmed_at is not None:
        raise ApplicationError("La double authentification est déjà activée.", code="already_enrolled")
    if device is None:
        device = TOTPDevice.objects.create(user=user, secret=totp.new_secret())
    return device


def totp_enrolment_confirm(*, request: HttpRequest, user: User, code: str) -> list[str]:
    """Activate the second factor; returns the recovery codes, shown once."""
    _require_well_formed_totp(code)
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().select_related("user").get(user=user)
        if device.confirmed_at is not None:
            raise ApplicationError("La double authentification est déjà activée.", code="already_enrolled")
        result = _totp_attempt(device=device, code=code, request=request)
        if result is TotpResult.OK:
            device.confirmed_at = timezone.now()
            device.save(update_fields=["confirmed_at"])
            codes = _recovery_codes_replace(user)
            journal.record("2fa.enrolled", actor=user, target=user, payload={"ip": client_ip(request)})
    if result is not TotpResult.OK:
        raise _totp_refusal(result, device, status=400)
    request.session[SESSION_2FA_VERIFIED] = True
    return codes


def _recovery_codes_replace(user: User) -> list[str]:
    RecoveryCode.objects.filter(user=user).delete()
    codes = [secrets.new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    RecoveryCode.objects.bulk_create(RecoveryCode(user=user, code_hash=secrets.digest(c)) for c in codes)
    return codes


@transaction.atomic
def recovery_codes_regenerate(*, user: User) -> list[str]:
    if not user.has_two_factor:
        raise ApplicationError("Activez d'abord la double authentification.", code="not_enrolled")
    codes = _recovery_codes_replace(user)
    journal.record("2fa.recovery_regenerated", actor=user, target=user)
    return codes


@transaction.atomic
def totp_disable(*, user: User) -> None:
    if user.requires_two_factor():
        raise ApplicationError(
            "La double authentification est obligatoire pour les acheteurs, les membres de "
            "commission et les administrateurs de la plateforme : elle ne peut pas être désactivée.",
            code="two_factor_required",
            status=403,
        )
    TOTPDevice.objects.filter(user=user).delete()
    RecoveryCode.objects.filter(user=user).delete()
    journal.record("2fa.disabled", actor=user, target=user)


# --- Profile ---------------------------------------------------------------------------


@transaction.atomic
def profile_update(*, user: User, first_name: str, last_name: str) -> User:
    user.first_name, user.last_name = first_name.strip(), last_name.strip()
    # The address is not edited here: an account from before the ASCII rule on local parts
    # (docs/accounts.md) keeps a profile it can update.
    full_clean_and_save(user, exclude=["email"])
    journal.record("account.profile_updated", actor=user, target=user)
    return user


# --- Organisations, invitations, roles -------------------------------------------------


@transaction.atomic
def buyer_create(*, name: str, siret: str, created_by: User, address: str = "") -> Organisation:
    """Buyer organisations are created by platform administrators only."""
    if not created_by.is_staff:
        raise ApplicationError("Seul un administrateur de la plateforme crée un acheteur.", status=403)
    organisation = Organisation(kind=Organisation.Kind.BUYER, name=name, siret=siret, address=address)
    full_clean_and_save(organisation)
    journal.record(
        "organisation.created",
        actor=created_by,
        organisation=organisation,
        target=organisation,
        payload={"kind": organisation.kind, "siret": organisation.siret},
    )
    return organisation


def _require_admin(*, organisation: Organisation, user: User) -> None:
    if not Membership.objects.filter(
        organisation=organisation, user=user, role__in=Membership.ADMIN_ROLES
    ).exists():
        raise ApplicationError(
            "Seul un administrateur de l'organisation peut faire cela.", code="forbidden", status=403
        )


def _require_role_allowed(*, organisation: Organisation, role: str) -> None:
    if role not in organisation.allowed_roles():
        raise ApplicationError("Ce rôle n'existe pas pour ce type d'organisation.", code="role_invalid")


def invitation_create(
    *, organisation: Organisation, email: str, role: str, invited_by: User
) -> tuple[Invitation, str]:
    """Invite someone by e-mail. Returns the invitation and its secret token, which is sent
    by e-mail and never stored in clear. Organisation admins invite into their organisation;
    platform staff invite into any (that is how a new buyer gets its first administrator)."""
    email = normalise_email(email)
    with transaction.atomic():
        if not invited_by.is_staff:
            _require_admin(organisation=organisation, user=invited_by)
        _require_role_allowed(organisation=organisation, role=role)
        if Membership.objects.filter(organisation=organisation, user__email=email).exists():
            raise ApplicationError("Cette personne est déjà membre de l'organisation.", code="already_member")
        # A new invitation to the same address replaces the pending one.
        Invitation.objects.pending().filter(organisation=organisation, email=email).update(
            revoked_at=timezone.now()
        )
        token = secrets.new_url_token()
        invitation = Invitation(
            organisation=organisation,
            email=email,
            role=role,
            token_hash=secrets.digest(token),
            invited_by=invited_by,
            expires_at=timezone.now() + settings.INVITATION_VALIDITY,
        )
        full_clean_and_save(invitation)
        journal.record(
            "invitation.created",
            actor=invited_by,
            organisation=organisation,
            target=invitation,
            payload={"email": email, "role": role},
        )
        transaction.on_commit(lambda: _invitation_send(invitation=invitation, token=token))
    return invitation, token


def _invitation_send(*, invitation: Invitation, token: str) -> None:
    link = settings.SITE_URL + reverse("comptes:invitation", args=[token])
    body = render_to_string("comptes/emails/invitation.txt", {"invitation": invitation, "link": link})
    send_mail(
        f"{settings.PLATFORM_NAME} — invitation à rejoindre {invitation.organisation}",
        body,
        settings.DEFAULT_FROM_EMAIL,
        [invitation.email],
    )


def invitation_from_token(token: str) -> Invitation:
    invitation = (
        Invitation.objects.select_related("organisation", "invited_by")
        .filter(token_hash=secrets.digest(token))
        .first()
    )
    if invitation is None or invitation.revoked_at is not None:
        raise ApplicationError(
            "Cette invitation n'existe pas ou a été annulée.", code="not_found", status=404
        )
    if invitation.accepted_at is not None:
        raise ApplicationError(
            "Cette invitation a déjà été acceptée. Connectez-vous pour accéder à l'organisation.",
            code="already_accepted",
            status=410,
        )
    if invitation.expires_at <= timezone.now():
        raise ApplicationError(
            "Cette invitation a expiré. Demandez à l'administrateur de l'organisation de vous "
            "en envoyer une nouvelle.",
            code="expired",
            status=410,
        )
    return invitation


@transaction.atomic
def invitation_accept(*, token: str, user: User) -> Membership:
    invitation = invitation_from_token(token)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.email != user.email:  # both stored in normal form
        raise ApplicationError(
            f"Cette invitation est adressée à {invitation.email} : connectez-vous avec ce compte.",
            code="wrong_account",
            status=403,
        )
    try:
        with transaction.atomic():
            membership = Membership.objects.create(
                user=user, organisation=invitation.organisation, role=invitation.role
            )
    except IntegrityError:
        raise ApplicationError(
            "Vous êtes déjà membre de cette organisation.", code="already_member"
        ) from None
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    if not user.email_verified:
        # Following the link sent to this address proves it.
        user.email_verified_at = timezone.now()
        user.save(update_fields=["email_verified_at"])
    journal.record(
        "invitation.accepted",
        actor=user,
        organisation=invitation.organisation,
        target=membership,
        payload={"role": membership.role, "invitation": invitation.pk},
    )
    return membership


@transaction.atomic
def invitation_accept_new_account(*, token: str, first_name: str, last_name: str, password: str) -> User:
    invitation = invitation_from_token(token)
    message = "Un compte existe déjà avec cette adresse : connectez-vous pour accepter l'invitation."
    if User.objects.filter(email=invitation.email).exists():
        raise ApplicationError(message, code="duplicate_email")
    user = User(
        email=invitation.email,
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        email_verified_at=timezone.now(),
    )
    user.set_password(password)
    _user_create(user, message=message)
    journal.record("account.registered", actor=user, target=user, payload={"via": "invitation"})
    invitation_accept(token=token, user=user)
    return user


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, revoked_by: User) -> None:
    _require_admin(organisation=invitation.organisation, user=revoked_by)
    if invitation.accepted_at or invitation.revoked_at:
        raise ApplicationError("Cette invitation n'est plus en attente.", code="not_pending")
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    journal.record(
        "invitation.revoked",
        actor=revoked_by,
        organisation=invitation.organisation,
        target=invitation,
        payload={"email": invitation.email},
    )


def _require_other_admin(membership: Membership) -> None:
    others = Membership.objects.filter(
        organisation=membership.organisation, role__in=Membership.ADMIN_ROLES
    ).exclude(pk=membership.pk)
    if not others.exists():
        raise ApplicationError("L'organisation doit garder au moins un administrateur.", code="last_admin")


@transaction.atomic
def membership_change_role(*, membership: Membership, role: str, changed_by: User) -> Membership:
    membership = (
        Membership.objects.select_for_update().select_related("organisation", "user").get(pk=membership.pk)
    )
    _require_admin(organisation=membership.organisation, user=changed_by)
    _require_role_allowed(organisation=membership.organisation, role=role)
    if membership.role == role:
        return membership
    if membership.is_admin and role not in Membership.ADMIN_ROLES:
        _require_other_admin(membership)
    old_role = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    journal.record(
        "membership.role_changed",
        actor=changed_by,
        organisation=membership.organisation,
        target=membership,
        payload={"user": membership.user.email, "from": old_role, "to": role},
    )
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, removed_by: User) -> None:
    membership = (
        Membership.objects.select_for_update().select_related("organisation", "user").get(pk=membership.pk)
    )
    _require_admin(organisation=membership.organisation, user=removed_by)
    if membership.is_admin:
        _require_other_admin(membership)
    journal.record(
        "membership.removed",
        actor=removed_by,
        organisation=membership.organisation,
        target=membership,
        payload={"user": membership.user.email, "role": membership.role},
    )
    membership.delete()


# --- API tokens ----------------------------------------------------------------------


@transaction.atomic
def api_token_create(*, user: User, name: str) -> tuple[ApiToken, str]:
    secret = "mo_" + secrets.new_url_token()
    token = ApiToken(user=user, name=name.strip(), prefix=secret[:10], token_hash=secrets.digest(secret))
    full_clean_and_save(token)
    journal.record(
        "api_token.created", actor=user, target=token, payload={"name": token.name, "prefix": token.prefix}
    )
    return token, secret


@transaction.atomic
def api_token_revoke(*, token: ApiToken, user: User) -> None:
    if token.user_id != user.pk:
        raise ApplicationError("Jeton introuvable.", code="not_found", status=404)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        journal.record("api_token.revoked", actor=user, target=token, payload={"prefix": token.prefix})


def api_token_authenticate(secret: str) -> ApiToken | None:
    token = (
        ApiToken.objects.active()
        .select_related("user")
        .filter(token_hash=secrets.digest(secret), user__is_active=True)
        .first()
    )
    if token is not None and (
        token.last_used_at is None or timezone.now() - token.last_used_at > timedelta(minutes=1)
    ):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
    return token


# --- Ceremony passphrase (commission members) --------------------------------------------


def _passphrase_problems(user: User, passphrase: str) -> list[str]:
    from django.contrib.auth import password_validation
    from django.core.exceptions import ValidationError

    problems = []
    minimum = settings.CEREMONY_PASSPHRASE_MIN_LENGTH
    if len(passphrase) < minimum:
        problems.append(
            f"La phrase de passe de séance doit compter au moins {minimum} caractères "
            "(par exemple quatre ou cinq mots sans rapport entre eux)."
        )
    try:
        password_validation.validate_password(passphrase, user)
    except ValidationError as exc:
        problems.extend(exc.messages)
    if user.check_password(passphrase):
        problems.append("La phrase de passe de séance doit être différente du mot de passe de connexion.")
    return problems


@transaction.atomic
def ceremony_passphrase_set(*, user: User, passphrase: str, current_passphrase: str = "") -> CeremonyKey:
    """Set (or replace) a member's ceremony passphrase. Only the Argon2id parameters and the
    public `age` recipient derived from it are kept. Replacing it needs the current one, and
    the previous key stays for the shares already sealed to it."""
    user = User.objects.select_for_update().get(pk=user.pk)
    problems = _passphrase_problems(user, passphrase)
    if problems:
        raise ApplicationError(" ".join(problems), code="weak_passphrase", details={"passphrase": problems})
    previous = user.ceremony_key
    if previous is not None:
        if ceremony.recipient_of(ceremony.identity_for(previous, current_passphrase)) != previous.recipient:
            raise ApplicationError(
                "Phrase de passe de séance actuelle incorrecte.", code="wrong_passphrase", status=403
            )
        previous.retired_at = timezone.now()
        previous.save(update_fields=["retired_at"])
    parameters = ceremony.Parameters.current()
    salt = ceremony.new_salt()
    key = CeremonyKey(
        user=user,
        created_at=timezone.now(),
        salt=salt,
        time_cost=parameters.time_cost,
        memory_cost=parameters.memory_cost,
        parallelism=parameters.parallelism,
        recipient=ceremony.recipient_of(ceremony.derive_identity(passphrase, salt, parameters)),
    )
    full_clean_and_save(key)
    journal.record(
        "ceremony.passphrase_set",
        actor=user,
        target=key,
        payload={"recipient": key.recipient, "replaces": previous.pk if previous else None},
    )
    return key
