from django import forms
from django.contrib.auth import password_validation
from django.utils.translation import gettext_lazy as _
from django_countries import countries
from dsfr.forms import DsfrBaseForm

from .emails import normalise_email, validate_ascii_local_part

# A field required or not depending on another answer: no « (facultatif) » mark, the label
# says when it is needed.
CONDITIONAL_FIELD = "includes/field_conditional.html"


class NormalisedEmailField(forms.EmailField):
    """An address field that yields the normal form (comptes/emails.py): the validators
    check the address that will be stored, looked up and mailed to, not the spelling typed
    (a fullwidth address is valid once folded)."""

    default_validators = [*forms.EmailField.default_validators, validate_ascii_local_part]

    def to_python(self, value):
        value = super().to_python(value)
        return normalise_email(value) if value else value


class PasswordPairMixin:
    """Two password fields checked against each other and Django's validators."""

    def clean(self):
        cleaned = super().clean()
        password1, password2 = cleaned.get("password1"), cleaned.get("password2")
        if password1 and password2 and password1 != password2:
            self.add_error("password2", "Les deux mots de passe ne correspondent pas.")
        elif password1:
            try:
                password_validation.validate_password(password1, self._password_user())
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned

    def _password_user(self):
        return None


def password_fields() -> tuple[forms.CharField, forms.CharField]:
    return (
        forms.CharField(
            label="Mot de passe",
            help_text="12 caractères au moins ; évitez un mot de passe courant ou proche de votre nom.",
            widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
            strip=False,
        ),
        forms.CharField(
            label="Confirmation du mot de passe",
            widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
            strip=False,
        ),
    )


class RegistrationForm(PasswordPairMixin, DsfrBaseForm):
    first_name = forms.CharField(
        label="Prénom", max_length=150, widget=forms.TextInput(attrs={"autocomplete": "given-name"})
    )
    last_name = forms.CharField(
        label="Nom", max_length=150, widget=forms.TextInput(attrs={"autocomplete": "family-name"})
    )
    email = NormalisedEmailField(
        label="Adresse e-mail professionnelle",
        help_text="Format attendu : nom@entreprise.fr. Un lien de confirmation y sera envoyé.",
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    password1, password2 = password_fields()
    organisation_name = forms.CharField(
        label="Raison sociale de l'entreprise",
        max_length=255,
        widget=forms.TextInput(attrs={"autocomplete": "organization"}),
    )
    country = forms.ChoiceField(label="Pays d'établissement", choices=list(countries), initial="FR")
    # Which identifier is required depends on the country (Organisation.clean): the fields
    # are optional for the form, and their labels say when each one is needed rather than
    # carrying a « (facultatif) » that would be false for the companies concerned.
    siret = forms.CharField(
        label="SIRET — obligatoire pour une entreprise établie en France",
        help_text="14 chiffres, par exemple 732 829 320 00074.",
        required=False,
        max_length=20,
        template_name=CONDITIONAL_FIELD,
    )
    vat_number = forms.CharField(
        label="Numéro de TVA intracommunautaire — pour une entreprise d'un autre pays de l'Union européenne",
        help_text="Avec le préfixe du pays, par exemple DE136695976. À défaut, indiquez l'identifiant "
        "national.",
        required=False,
        max_length=20,
        template_name=CONDITIONAL_FIELD,
    )
    national_id = forms.CharField(
        label="Identifiant national — pour une entreprise établie hors de France, à défaut de numéro de TVA",
        help_text="Numéro d'immatriculation de l'entreprise dans son pays.",
        required=False,
        max_length=50,
        template_name=CONDITIONAL_FIELD,
    )

    def _password_user(self):
        from .models import User

        return User(
            email=self.cleaned_data.get("email", ""),
            first_name=self.cleaned_data.get("first_name", ""),
            last_name=self.cleaned_data.get("last_name", ""),
        )


class LoginForm(DsfrBaseForm):
    # Named "username" so that django-axes counts failures per account.
    username = NormalisedEmailField(
        label=_("Adresse e-mail"),
        widget=forms.EmailInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    password = forms.CharField(
        label=_("Mot de passe"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class CodeForm(DsfrBaseForm):
    code = forms.CharField(
        label="Code de vérification",
        help_text=(
            "Les 6 chiffres affichés par votre application, ou un code de secours (XXXX-XXXX-XXXX-XXXX)."
        ),
        max_length=24,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True}
        ),
    )


class TotpConfirmForm(DsfrBaseForm):
    code = forms.CharField(
        label="Code à 6 chiffres affiché par l'application",
        max_length=8,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
    )


class ResendVerificationForm(DsfrBaseForm):
    email = NormalisedEmailField(
        label="Adresse e-mail", widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )


class ProfileForm(DsfrBaseForm):
    first_name = forms.CharField(label="Prénom", max_length=150)
    last_name = forms.CharField(label="Nom", max_length=150)


class RoleForm(DsfrBaseForm):
    role = forms.ChoiceField(label="Rôle")

    def __init__(self, *args, organisation, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = organisation.role_choices()


class InvitationForm(RoleForm):
    email = NormalisedEmailField(label="Adresse e-mail de la personne invitée")
    field_order = ["email", "role"]


class InvitationAccountForm(PasswordPairMixin, DsfrBaseForm):
    first_name = forms.CharField(label="Prénom", max_length=150)
    last_name = forms.CharField(label="Nom", max_length=150)
    password1, password2 = password_fields()


class ApiTokenForm(DsfrBaseForm):
    name = forms.CharField(
        label="Nom du jeton",
        help_text="Pour le reconnaître plus tard, par exemple « script de dépôt ».",
        max_length=100,
    )


class CeremonyPassphraseForm(DsfrBaseForm):
    current_passphrase = forms.CharField(
        label="Phrase de passe de séance actuelle",
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        required=False,
    )
    passphrase = forms.CharField(
        label="Nouvelle phrase de passe de séance",
        help_text="Au moins 16 caractères, différente de votre mot de passe : par exemple quatre ou cinq "
        "mots sans rapport entre eux. Elle ne vous sera jamais redemandée par e-mail.",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        strip=False,
    )
    passphrase_confirm = forms.CharField(
        label="Confirmez la phrase de passe de séance",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        strip=False,
    )

    def __init__(self, *args, has_current: bool, **kwargs):
        super().__init__(*args, **kwargs)
        if not has_current:
            del self.fields["current_passphrase"]
        else:
            self.fields["current_passphrase"].required = True

    def clean(self):
        data = super().clean()
        if data.get("passphrase") and data.get("passphrase") != data.get("passphrase_confirm"):
            self.add_error("passphrase_confirm", "Les deux saisies ne sont pas identiques.")
        return data
