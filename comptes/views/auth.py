"""Registration, e-mail verification, login in two steps, logout, lockout page."""

from django.contrib import messages
from django.contrib.auth import logout
from django.db import transaction
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from config.errors import ApplicationError
from preuves import journal

from .. import services
from ..forms import CodeForm, LoginForm, RegistrationForm, ResendVerificationForm
from ..landing import landing_url


def _next(request) -> str | None:
    """The `next=` of the login form, if it stays on this site."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return None


@require_http_methods(["GET", "POST"])
def register(request):
    form = RegistrationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = services.company_register(
                email=data["email"],
                password=data["password1"],
                first_name=data["first_name"],
                last_name=data["last_name"],
                organisation_name=data["organisation_name"],
                country=data["country"],
                siret=data["siret"],
                vat_number=data["vat_number"],
                national_id=data["national_id"],
                request=request,
            )
        except ApplicationError as exc:
            _form_errors(form, exc)
        else:
            return render(request, "comptes/register_done.html", {"email": user.email})
    return render(request, "comptes/register.html", {"form": form}, status=400 if form.errors else 200)


def _form_errors(form, exc: ApplicationError) -> None:
    """Attach a service's error to the form fields it names, or to the form as a whole."""
    placed = False
    for field, field_errors in exc.details.items():
        if field in form.fields:
            for message in field_errors:
                form.add_error(field, message)
            placed = True
    if not placed:
        form.add_error(None, exc.message)


def verify_email(request, token: str):
    try:
        services.email_verify(token=token)
    except ApplicationError as exc:
        return render(
            request,
            "comptes/verify_email.html",
            {"error": exc.message, "form": ResendVerificationForm()},
            status=exc.status,
        )
    messages.success(request, "Votre adresse e-mail est confirmée : vous pouvez vous connecter.")
    return redirect("comptes:login")


@require_POST
def resend_verification(request):
    form = ResendVerificationForm(request.POST)
    if form.is_valid():
        services.email_verification_resend(email=form.cleaned_data["email"])
    messages.info(
        request,
        "Si un compte non confirmé existe pour cette adresse, un nouveau lien vient d'y être envoyé.",
    )
    return redirect("comptes:login")


@require_http_methods(["GET", "POST"])
def login_view(request):
    form = LoginForm(request.POST or None)
    status = 200
    show_resend = False
    if request.method == "POST" and form.is_valid():
        try:
            outcome = services.login_password(
                request=request, email=form.cleaned_data["username"], password=form.cleaned_data["password"]
            )
        except ApplicationError as exc:
            if exc.code == "locked":
                return lockout_response(request)
            form.add_error(None, exc.message)
            show_resend = exc.code == "email_unverified"
            status = exc.status
        else:
            if outcome is services.LoginOutcome.SECOND_FACTOR:
                if target := _next(request):
                    request.session["login_next"] = target
                return redirect("comptes:login_code")
            return redirect(_next(request) or landing_url(request.user))
    elif form.errors:
        status = 400
    return render(
        request,
        "comptes/login.html",
        {
            "form": form,
            "next": request.GET.get("next", ""),
            "show_resend": show_resend,
            "resend_form": ResendVerificationForm(),
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
def login_code(request):
    user = services.pending_login_user(request)
    if user is None:
        messages.warning(
            request, "Votre session de connexion a expiré : saisissez à nouveau vos identifiants."
        )
        return redirect("comptes:login")
    form = CodeForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            method = services.login_second_factor(request=request, user=user, code=form.cleaned_data["code"])
        except ApplicationError as exc:
            form.add_error("code", exc.message)
            status = exc.status
        else:
            target = request.session.pop("login_next", None)
            return redirect(target or landing_url(user, second_factor=method))
    elif form.errors:
        status = 400
    return render(request, "comptes/login_code.html", {"form": form, "pending_user": user}, status=status)


@require_POST
def logout_view(request):
    if request.user.is_authenticated:
        with transaction.atomic():
            journal.record("auth.logout", actor=request.user, target=request.user)
    logout(request)
    messages.info(request, "Vous êtes déconnecté.")
    return redirect("home")


def lockout_response(request, response=None, credentials=None):
    """django-axes calls this when an account is locked (AXES_LOCKOUT_CALLABLE)."""
    return render(request, "comptes/locked.html", {"message": services.lockout_message()}, status=429)
