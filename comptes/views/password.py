"""Password reset ("Mot de passe oublié") on Django's views, with DSFR forms and journaling."""

from django import forms
from django.conf import settings
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import views as auth_views
from django.db import transaction
from django.urls import reverse_lazy
from dsfr.forms import DsfrBaseForm

from .. import services
from ..emails import normalise_email
from ..forms import NormalisedEmailField
from ..models import User


class PasswordResetRequestForm(auth_forms.PasswordResetForm, DsfrBaseForm):
    email = NormalisedEmailField(
        label="Adresse e-mail",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )

    def get_users(self, email):
        """The account whose address has this normal form (Django's form matches with
        `iexact`, which is `UPPER()` on PostgreSQL and ASCII-only on SQLite). The message
        goes to the stored address, never to the spelling typed."""
        return (
            user
            for user in User.objects.filter(email=normalise_email(email), is_active=True)
            if user.has_usable_password()
        )


class NewPasswordForm(auth_forms.SetPasswordForm, DsfrBaseForm):
    pass


class PasswordResetRequestView(auth_views.PasswordResetView):
    form_class = PasswordResetRequestForm
    template_name = "comptes/password_reset_form.html"
    email_template_name = "comptes/emails/password_reset.txt"
    subject_template_name = "comptes/emails/password_reset_subject.txt"
    success_url = reverse_lazy("comptes:password_reset_done")

    @property
    def extra_email_context(self):
        # Links in e-mails use the configured public address, never the request's Host header.
        return {"site_url": settings.SITE_URL, "PLATFORM_NAME": settings.PLATFORM_NAME}

    def form_valid(self, form):
        services.password_reset_requested(email=form.cleaned_data["email"], request=self.request)
        return super().form_valid(form)


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "comptes/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    form_class = NewPasswordForm
    template_name = "comptes/password_reset_confirm.html"
    success_url = reverse_lazy("comptes:password_reset_complete")

    def form_valid(self, form):
        with transaction.atomic():
            response = super().form_valid(form)
            services.password_reset_completed(user=form.user, request=self.request)
        return response


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "comptes/password_reset_complete.html"
