"""Organisation pages: members, roles, invitations. Every object is fetched through a
queryset limited to what the user may see, so another organisation's id is a 404."""

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from config.errors import ApplicationError

from .. import services
from ..access import get_in_scope_or_404
from ..forms import InvitationAccountForm, InvitationForm, LoginForm, RoleForm
from ..models import Organisation, User


@login_required
def organisation_detail(request, pk: int):
    organisation = get_in_scope_or_404(request, Organisation.objects.visible_to(request.user), pk=pk)
    is_admin = Organisation.objects.administered_by(request.user).filter(pk=pk).exists()
    members = organisation.memberships.select_related("user").order_by("user__last_name", "user__first_name")
    context = {
        "organisation": organisation,
        "is_admin": is_admin,
        "members": [
            (m, RoleForm(organisation=organisation, initial={"role": m.role}, prefix=f"m{m.pk}"))
            for m in members
        ],
        "invitations": organisation.invitations.select_related("invited_by")[:50] if is_admin else [],
        "invite_form": InvitationForm(organisation=organisation) if is_admin else None,
    }
    return render(request, "comptes/organisation.html", context)


@login_required
@require_POST
def invitation_create(request, pk: int):
    organisation = get_in_scope_or_404(request, Organisation.objects.administered_by(request.user), pk=pk)
    form = InvitationForm(request.POST, organisation=organisation)
    if form.is_valid():
        try:
            services.invitation_create(
                organisation=organisation,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                invited_by=request.user,
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Invitation envoyée à {form.cleaned_data['email']}.")
    else:
        messages.error(
            request, "Invitation non envoyée : " + " ".join(e for errs in form.errors.values() for e in errs)
        )
    return redirect("comptes:organisation", pk=organisation.pk)


@login_required
@require_POST
def invitation_revoke(request, pk: int, invitation_pk: int):
    organisation = get_in_scope_or_404(request, Organisation.objects.administered_by(request.user), pk=pk)
    invitation = get_in_scope_or_404(request, organisation.invitations.all(), pk=invitation_pk)
    try:
        services.invitation_revoke(invitation=invitation, revoked_by=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"L'invitation de {invitation.email} est annulée.")
    return redirect("comptes:organisation", pk=organisation.pk)


@login_required
@require_POST
def membership_role(request, pk: int, membership_pk: int):
    organisation = get_in_scope_or_404(request, Organisation.objects.administered_by(request.user), pk=pk)
    membership = get_in_scope_or_404(
        request, organisation.memberships.select_related("user"), pk=membership_pk
    )
    form = RoleForm(request.POST, organisation=organisation, prefix=f"m{membership.pk}")
    if form.is_valid():
        try:
            services.membership_change_role(
                membership=membership, role=form.cleaned_data["role"], changed_by=request.user
            )
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Le rôle de {membership.user.get_full_name()} est modifié.")
    else:
        messages.error(request, "Rôle invalide pour ce type d'organisation.")
    return redirect("comptes:organisation", pk=organisation.pk)


@login_required
@require_POST
def membership_remove(request, pk: int, membership_pk: int):
    organisation = get_in_scope_or_404(request, Organisation.objects.administered_by(request.user), pk=pk)
    membership = get_in_scope_or_404(
        request, organisation.memberships.select_related("user"), pk=membership_pk
    )
    try:
        services.membership_remove(membership=membership, removed_by=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{membership.user.get_full_name()} ne fait plus partie de l'organisation.")
    return redirect("comptes:organisation", pk=organisation.pk)


@require_http_methods(["GET", "POST"])
def invitation(request, token: str):
    """Accept an invitation: the invited person logs in with the invited address, or creates
    their account from here."""
    try:
        invitation = services.invitation_from_token(token)
    except ApplicationError as exc:
        return render(request, "comptes/invitation_invalid.html", {"error": exc.message}, status=exc.status)
    user = request.user
    if user.is_authenticated:
        if request.method == "POST" and request.POST.get("action") == "switch":
            logout(request)
            return redirect("comptes:invitation", token=token)
        if request.method == "POST":
            try:
                membership = services.invitation_accept(token=token, user=user)
            except ApplicationError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, f"Vous avez rejoint {membership.organisation}.")
                return redirect("comptes:organisation", pk=membership.organisation_id)
        return render(
            request,
            "comptes/invitation.html",
            {"invitation": invitation, "wrong_account": user.email != invitation.email},
        )
    has_account = User.objects.filter(email=invitation.email).exists()
    form = InvitationAccountForm(request.POST or None) if not has_account else None
    status = 200
    if form is not None and request.method == "POST":
        if form.is_valid():
            try:
                services.invitation_accept_new_account(
                    token=token,
                    first_name=form.cleaned_data["first_name"],
                    last_name=form.cleaned_data["last_name"],
                    password=form.cleaned_data["password1"],
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
                status = exc.status
            else:
                messages.success(
                    request,
                    f"Votre compte est créé et vous avez rejoint {invitation.organisation}. Connectez-vous.",
                )
                return redirect("comptes:login")
        else:
            status = 400
    return render(
        request,
        "comptes/invitation.html",
        {
            "invitation": invitation,
            "form": form,
            "has_account": has_account,
            "login_form": LoginForm(initial={"username": invitation.email}),
        },
        status=status,
    )
