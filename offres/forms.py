"""Forms of offres' back-office pages. They parse what a person typed (a time read in Paris
time, a digest written in capitals or in groups) and hand plain values to the services,
which stay the authority on every rule."""

from __future__ import annotations

import re

from django import forms
from django.utils.text import capfirst
from dsfr.forms import DsfrBaseForm

from comptes.models import Organisation
from marches import forms as marches_forms
from marches.forms import date_field, paris_datetime, time_field
from marches.models import Consultation

from .backups import depositors
from .models import SHA256_HEX, BackupMedium

DIGEST_SEPARATORS = re.compile(r"[\s:]")


class CompanyChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Organisation) -> str:
        identifier = obj.siret or obj.vat_number or obj.national_id
        return f"{obj.name} ({identifier})" if identifier else obj.name


class BackupCopyForm(DsfrBaseForm):
    """The arrival of a copie de sauvegarde, as written on its package."""

    company = CompanyChoiceField(
        label="Entreprise ayant déposé un pli",
        queryset=Organisation.objects.none(),
        required=False,
        empty_label="Aucune de la liste",
        help_text="Relie la copie au pli électronique de l'entreprise. À défaut, la copie est reliée à "
        "l'entreprise inscrite sur la plateforme dont le SIRET ou le numéro de TVA est indiqué ci-dessous.",
    )
    company_name = forms.CharField(
        label="Nom de l'entreprise, tel qu'écrit sur le pli",
        max_length=255,
        error_messages={"required": "Indiquez le nom de l'entreprise, tel qu'écrit sur le pli."},
    )
    company_identifier = forms.CharField(
        label="SIRET ou numéro de TVA intracommunautaire",
        max_length=50,
        required=False,
        help_text="Tel qu'écrit sur le pli, par exemple 732 829 320 00074 ou DE136695976.",
    )
    arrival_date = date_field("Jour")
    arrival_time = time_field("Heure (heure de Paris)")
    medium = forms.ChoiceField(
        label="Support",
        choices=[(value, capfirst(label)) for value, label in BackupMedium.choices],
        widget=forms.RadioSelect,
        error_messages={"required": "Choisissez le support de la copie de sauvegarde."},
    )
    medium_detail = forms.CharField(
        label="Précision sur le support",
        max_length=200,
        required=False,
        help_text="Obligatoire pour « autre », par exemple « deux DVD-ROM » ou « carte SD ».",
    )
    sha256 = forms.CharField(
        label="Empreinte SHA-256",
        max_length=200,
        required=False,
        help_text="Les 64 caractères hexadécimaux inscrits sur le support ou sur le bordereau qui "
        "l'accompagne ; espaces et majuscules sont acceptés.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    note = forms.CharField(
        label="Observations",
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Par exemple l'état du pli à l'arrivée (scellé intact ou non) et le mode de remise "
        "(porteur, voie postale).",
    )

    def __init__(self, *args, consultation: Consultation, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        companies = depositors(consultation)
        # Without any deposit there is nothing to choose: the identifier may still link a company.
        self.with_depositors = companies.exists()
        if self.with_depositors:
            self.fields["company"].queryset = companies
        else:
            del self.fields["company"]
        # Bound fields were cached by DsfrBaseForm.__init__, with the fields of then.
        self._bound_fields_cache.clear()

    def clean_sha256(self) -> str:
        value = DIGEST_SEPARATORS.sub("", self.cleaned_data["sha256"]).lower()
        if value:
            SHA256_HEX(value)
        return value

    def clean(self) -> dict:
        cleaned = super().clean()
        cleaned["arrived_at"] = paris_datetime(cleaned.get("arrival_date"), cleaned.get("arrival_time"))
        return cleaned

    def service_fields(self) -> dict:
        """The keyword arguments of backups.backup_copy_register, but the consultation and the user."""
        data = self.cleaned_data
        fields = {
            name: data[name]
            for name in ("company_name", "company_identifier", "medium", "medium_detail", "sha256", "note")
        }
        return {**fields, "arrived_at": data["arrived_at"], "company": data.get("company")}


# Where an ApplicationError's details point (model field → form field).
FIELD_ALIASES = {"arrived_at": "arrival_date"}


def add_service_errors(form: forms.Form, exc) -> None:
    marches_forms.add_service_errors(form, exc, FIELD_ALIASES)
