"""Platform administration. Hardened: it is reached only through the platform's own login
(password + second factor), and buyer organisations are created through the service so the
creation is validated and journaled."""

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from config.errors import ApplicationError
from preuves.admin import ReadOnlyAdmin

from .forms import NormalisedEmailField
from .models import ApiToken, Invitation, Membership, Organisation, User
from .services import SESSION_2FA_VERIFIED, buyer_create, invitation_create


def _admin_has_permission(request) -> bool:
    user = request.user
    return bool(
        user.is_active and user.is_staff and user.has_two_factor and request.session.get(SESSION_2FA_VERIFIED)
    )


def _admin_login(request, extra_context=None):
    target = request.GET.get("next") or reverse("admin:index")
    return redirect_to_login(target, reverse("comptes:login"))


admin.site.has_permission = _admin_has_permission
admin.site.login = _admin_login
admin.site.site_header = "Administration de la plateforme"
admin.site.site_title = "Administration"


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ("user", "role", "created_at")
    readonly_fields = ("user", "role", "created_at")
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class StaffInvitationForm(forms.Form):
    email = NormalisedEmailField(label="Adresse e-mail")
    role = forms.ChoiceField(label="Rôle")

    def __init__(self, *args, organisation: Organisation, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = organisation.role_choices()


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ("name", "kind", "siret", "vat_number", "country", "created_at")
    list_filter = ("kind", "country")
    search_fields = ("name", "siret", "vat_number", "national_id")
    inlines = [MembershipInline]
    fields = ("kind", "name", "siret", "address", "country", "vat_number", "national_id")

    def get_readonly_fields(self, request, obj=None):
        # Identity fields are fixed once created; the kind is always "buyer" when created here.
        if obj is not None:
            return ("kind", "siret", "country", "vat_number", "national_id")
        return ("kind", "country", "vat_number", "national_id")

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        created = buyer_create(name=obj.name, siret=obj.siret, address=obj.address, created_by=request.user)
        obj.pk = created.pk
        obj.kind = created.kind

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        invite = self.admin_site.admin_view(self.invite_view)
        return [path("<int:pk>/inviter/", invite, name="comptes_organisation_invite"), *super().get_urls()]

    def invite_view(self, request, pk: int):
        """A new buyer has no member yet: platform staff invite its first administrator."""
        organisation = get_object_or_404(Organisation, pk=pk)
        initial = {"role": organisation.allowed_roles()[0]}
        form = StaffInvitationForm(request.POST or None, organisation=organisation, initial=initial)
        if request.method == "POST" and form.is_valid():
            try:
                invitation_create(
                    organisation=organisation,
                    email=form.cleaned_data["email"],
                    role=form.cleaned_data["role"],
                    invited_by=request.user,
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"Invitation envoyée à {form.cleaned_data['email']}.")
                return redirect("admin:comptes_organisation_change", organisation.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Inviter une personne dans « {organisation} »",
            "form": form,
            "organisation": organisation,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/comptes/organisation/invite.html", context)


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    list_display = (
        "email",
        "first_name",
        "last_name",
        "is_active",
        "is_staff",
        "email_verified_at",
        "date_joined",
    )
    search_fields = ("email", "first_name", "last_name")
    list_filter = ("is_active", "is_staff")
    fields = (
        "email",
        "first_name",
        "last_name",
        "is_active",
        "email_verified_at",
        "date_joined",
        "last_login",
    )
    readonly_fields = ("email", "email_verified_at", "date_joined", "last_login")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Invitation)
class InvitationAdmin(ReadOnlyAdmin):
    list_display = ("email", "organisation", "role", "created_at", "expires_at", "accepted_at", "revoked_at")
    search_fields = ("email", "organisation__name")


@admin.register(ApiToken)
class ApiTokenAdmin(InvitationAdmin):
    list_display = ("name", "prefix", "user", "created_at", "last_used_at", "revoked_at")
    search_fields = ("name", "prefix", "user__email")
