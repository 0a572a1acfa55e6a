"""The account page: profile, second factor, organisations, API tokens."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from config.errors import ApplicationError

from .. import services, totp
from ..access import get_in_scope_or_404
from ..forms import ApiTokenForm, CeremonyPassphraseForm, ProfileForm, TotpConfirmForm
from ..models import ApiToken, Invitation, TOTPDevice


@login_required
def account(request):
    return render(request, "comptes/account.html", _account_context(request))


def _account_context(request, *, new_token: dict | None = None) -> dict:
    user = request.user
    device = TOTPDevice.objects.filter(user=user).first()
    return {
        "profile_form": ProfileForm(initial={"first_name": user.first_name, "last_name": user.last_name}),
        "token_form": ApiTokenForm(),
        "tokens": ApiToken.objects.filter(user=user),
        "device": device if device and device.confirmed_at else None,
        "recovery_left": user.recovery_codes.filter(used_at__isnull=True).count(),
        "two_factor_required": user.requires_two_factor(),
        "pending_invitations": Invitation.objects.pending()
        .filter(email=user.email)
        .select_related("organisation"),
        "new_token": new_token,
        "is_commission_member": user.memberships.filter(role="commission_member").exists(),
        "ceremony_key": user.ceremony_key,
    }


@login_required
@require_http_methods(["GET", "POST"])
def ceremony_passphrase(request):
    """A commission member's ceremony passphrase: it seals their shares of the opening keys."""
    user = request.user
    current = user.ceremony_key
    form = CeremonyPassphraseForm(request.POST or None, has_current=current is not None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                services.ceremony_passphrase_set(
                    user=user,
                    passphrase=form.cleaned_data["passphrase"],
                    current_passphrase=form.cleaned_data.get("current_passphrase", ""),
                )
            except ApplicationError as exc:
                field = "current_passphrase" if exc.code == "wrong_passphrase" else "passphrase"
                for message in exc.details.get("passphrase", [exc.message]):
                    form.add_error(field, message)
            else:
                messages.success(
                    request,
                    "Votre phrase de passe de séance est enregistrée. Retenez-la : elle seule ouvre vos "
                    "parts des clés d'ouverture, la plateforme ne peut pas la retrouver.",
                )
                return redirect("comptes:account")
    return render(
        request, "comptes/ceremony_passphrase.html", {"form": form, "current": current}, status=status
    )


@login_required
@require_POST
def profile(request):
    form = ProfileForm(request.POST)
    if form.is_valid():
        services.profile_update(user=request.user, **form.cleaned_data)
        messages.success(request, "Votre profil est enregistré.")
        return redirect("comptes:account")
    return render(request, "comptes/profile.html", {"form": form}, status=400)


@login_required
@require_http_methods(["GET", "POST"])
def totp_enrol(request):
    user = request.user
    if user.has_two_factor:
        messages.info(request, "La double authentification est déjà activée.")
        return redirect("comptes:account")
    device = services.totp_enrolment_start(user=user)
    form = TotpConfirmForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            codes = services.totp_enrolment_confirm(
                request=request, user=user, code=form.cleaned_data["code"]
            )
        except ApplicationError as exc:
            form.add_error("code", exc.message)
            status = 400
        else:
            return render(request, "comptes/recovery_codes.html", {"codes": codes, "just_enrolled": True})
    elif form.errors:
        status = 400
    uri = totp.provisioning_uri(device.secret, user.email)
    context = {
        "form": form,
        "qr_svg": totp.qr_svg(uri),
        "secret": device.secret,
        "secret_grouped": " ".join(device.secret[i : i + 4] for i in range(0, len(device.secret), 4)),
        "required": user.requires_two_factor(),
    }
    return render(request, "comptes/totp_enrol.html", context, status=status)


@login_required
@require_POST
def recovery_codes(request):
    try:
        codes = services.recovery_codes_regenerate(user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("comptes:account")
    return render(request, "comptes/recovery_codes.html", {"codes": codes, "just_enrolled": False})


@login_required
@require_POST
def totp_disable(request):
    try:
        services.totp_disable(user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "La double authentification est désactivée.")
    return redirect("comptes:account")


@login_required
@require_POST
@never_cache
def token_create(request):
    form = ApiTokenForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Donnez un nom au jeton.")
        return redirect("comptes:account")
    token, secret = services.api_token_create(user=request.user, name=form.cleaned_data["name"])
    # Shown once, in this very response (never cached), and stored nowhere: not in the
    # session, not in the database (only its digest), so no later page can show it again.
    new_token = {"name": token.name, "secret": secret}
    return render(request, "comptes/account.html", _account_context(request, new_token=new_token))


@login_required
@require_POST
def token_revoke(request, pk: int):
    token = get_in_scope_or_404(request, ApiToken.objects.filter(user=request.user), pk=pk)
    services.api_token_revoke(token=token, user=request.user)
    messages.success(request, f"Le jeton « {token.name} » est révoqué.")
    return redirect("comptes:account")
