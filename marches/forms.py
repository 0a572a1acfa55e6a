"""Forms of the buyer's back office. They parse and check what a person typed (CPV codes,
places, dates read in Paris time, sizes in Mo) and hand plain values to marches/services.py,
which stays the authority on every rule."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from decimal import Decimal
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.urls import reverse
from django.utils import timezone
from dsfr.forms import DsfrBaseForm

from comptes.models import Membership, Organisation, User

from . import rules
from .models import Consultation, CpvCode, departement_of, parse_cpv
from .services import EDITABLE_FIELDS, REASON_REQUIRED

PARIS = ZoneInfo("Europe/Paris")
MB = 2**20
# --- Fields ---------------------------------------------------------------------------------


class CpvField(forms.CharField):
    """A CPV code typed as « 45261000-4 » (the check digit may be left out), checked against the
    CPV 2008 list. Works without JavaScript; the picker (static/marches/cpv.js) only helps to
    find the code."""

    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("max_length", 20)
        super().__init__(**kwargs)
        self.widget.attrs.update({"placeholder": "45261000-4", "autocomplete": "off", "spellcheck": "false"})

    def prepare_value(self, value):
        if isinstance(value, CpvCode):
            return value.full_code
        return super().prepare_value(value)

    def clean(self, value) -> CpvCode | None:
        value = super().clean(value)
        if value in self.empty_values:
            return None
        return parse_cpv(value)


CPV_SEPARATORS = re.compile(r"[\s,;]+")


class CpvListField(forms.CharField):
    """Several CPV codes, one per line or separated by commas; every code is checked and every
    bad one is named."""

    widget = forms.Textarea(attrs={"rows": 3, "spellcheck": "false"})

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return "\n".join(c.full_code if isinstance(c, CpvCode) else str(c) for c in value)
        return super().prepare_value(value)

    def clean(self, value) -> list[CpvCode]:
        value = super().clean(value)
        if value in self.empty_values:
            return []
        # "45261000 - 2" typed with spaces around the dash is still one code.
        text = re.sub(r"\s*-\s*", "-", value)
        codes, errors = [], []
        for token in filter(None, CPV_SEPARATORS.split(text)):
            try:
                codes.append(parse_cpv(token))
            except ValidationError as exc:
                errors.extend(exc.error_list)
        if errors:
            raise ValidationError(errors)
        return list(dict.fromkeys(codes))


class PlaceField(forms.CharField):
    def clean(self, value) -> str:
        value = super().clean(value)
        if value:
            departement_of(value)
            value = value.strip().upper()
        return value


def date_field(label: str, *, required: bool = True, help_text: str = "") -> forms.DateField:
    return forms.DateField(
        label=label,
        required=required,
        help_text=help_text or "Format attendu : JJ/MM/AAAA.",
        input_formats=["%Y-%m-%d", "%d/%m/%Y"],
        widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"}),
    )


def time_field(label: str, *, required: bool = True) -> forms.TimeField:
    return forms.TimeField(
        label=label,
        required=required,
        help_text="Format attendu : HH:MM, heure de Paris.",
        input_formats=["%H:%M", "%H:%M:%S", "%Hh%M", "%Hh"],
        widget=forms.TimeInput(format="%H:%M", attrs={"type": "time"}),
    )


def paris_datetime(day: date | None, moment: time | None) -> datetime | None:
    """A date and a time typed on a form, read in Paris time whatever the server's zone."""
    if day is None or moment is None:
        return None
    return datetime.combine(day, moment).replace(tzinfo=PARIS)


def same_minute(typed: datetime | None, stored: datetime | None) -> bool:
    """The form shows hours and minutes: a deadline typed back as shown is unchanged, even if
    the stored value carries seconds."""
    if typed is None or stored is None:
        return typed is stored
    return typed == stored.replace(second=0, microsecond=0)


def split_paris(value: datetime | None) -> tuple[date | None, time | None]:
    if value is None:
        return None, None
    local = timezone.localtime(value, PARIS)
    return local.date(), local.time().replace(second=0, microsecond=0)


class DeadlinesMixin:
    """Two deadlines each typed as a date and a time (heure de Paris): `deadline` and
    `questions_deadline` end up in cleaned_data as aware datetimes."""

    def _clean_deadlines(self, cleaned: dict, *, now: datetime | None = None) -> None:
        now = now or timezone.now()
        deadline = paris_datetime(cleaned.get("deadline_date"), cleaned.get("deadline_time"))
        cleaned["deadline"] = deadline
        if deadline is not None and deadline <= now:
            self.add_error("deadline_date", "La date limite de remise des plis doit être à venir.")
        q_day, q_time = cleaned.get("questions_deadline_date"), cleaned.get("questions_deadline_time")
        if q_day and not q_time and "questions_deadline_time" not in self.errors:
            self.add_error("questions_deadline_time", "Indiquez aussi l'heure limite des questions.")
        if q_time and not q_day and "questions_deadline_date" not in self.errors:
            self.add_error("questions_deadline_date", "Indiquez aussi le jour limite des questions.")
        questions = paris_datetime(q_day, q_time)
        cleaned["questions_deadline"] = questions
        if questions and deadline and questions > deadline:
            self.add_error(
                "questions_deadline_date",
                "La date limite des questions doit précéder la date limite de remise des plis.",
            )

    @staticmethod
    def _deadline_initial(consultation: Consultation) -> dict:
        d_day, d_time = split_paris(consultation.deadline)
        q_day, q_time = split_paris(consultation.questions_deadline)
        return {
            "deadline_date": d_day,
            "deadline_time": d_time,
            "questions_deadline_date": q_day,
            "questions_deadline_time": q_time,
        }


def _contact_fields() -> dict[str, forms.Field]:
    return {
        "contact_name": forms.CharField(
            label="Contact",
            max_length=150,
            help_text="Service ou personne qui répond aux questions administratives.",
        ),
        "contact_email": forms.EmailField(
            label="Adresse e-mail du contact", help_text="Format attendu : nom@acheteur.fr."
        ),
        "contact_phone": forms.CharField(
            label="Téléphone du contact",
            max_length=30,
            required=False,
            widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
        ),
    }


# --- Consultation ---------------------------------------------------------------------------

PROCEDURE_HELP = (
    "Procédure adaptée possible sous le seuil européen (article R2123-1 du code de la commande "
    "publique) ; au-delà, une procédure formalisée est obligatoire. L'appel d'offres ouvert "
    "impose au moins 30 jours entre la publication et la date limite (articles R2161-2 et "
    "R2161-3)."
)


def _authority_help() -> str:
    try:
        eu = rules.eu_thresholds_on(timezone.localdate())
    except rules.RuleNotFoundError:
        return "Le type d'acheteur détermine le seuil européen applicable aux fournitures et services."
    return (
        "Le type d'acheteur détermine le seuil européen des fournitures et services : "
        f"{rules.euros(eu.central_supplies_services)} HT pour l'État, "
        f"{rules.euros(eu.other_supplies_services)} HT pour les collectivités, "
        f"{rules.euros(eu.utilities_defence_supplies_services)} HT pour les entités adjudicatrices "
        f"et la défense ; {rules.euros(eu.works)} HT pour les travaux, quel que soit l'acheteur "
        f"({eu.source})."
    )


def dematerialisation_note(day: date) -> str:
    """What the consultation form says of the threshold: the dated rule in force today, the
    one the publication check applies (marches/checks.py), never a figure of its own."""
    rule = rules.dematerialisation_threshold_on(day)
    if rule is None:
        return "La plateforme ne connaît pas de seuil de dématérialisation en vigueur ce jour."
    return (
        f"À partir de {rules.euros(rule.amount)} HT ({rule.source}, {rule.period.label()}), "
        "le dépôt électronique est obligatoire : la plateforme publie la consultation et reçoit les "
        "plis par voie électronique."
    )


class ConsultationForm(DeadlinesMixin, DsfrBaseForm):
    """Every field of a draft consultation. `user` chooses the buyers offered; with `instance`
    the form edits that draft (its buyer cannot change)."""

    buyer = forms.ModelChoiceField(
        label="Acheteur",
        queryset=Organisation.objects.none(),
        empty_label=None,
        help_text="L'organisation au nom de laquelle la consultation est publiée.",
    )
    reference = forms.CharField(
        label="Référence",
        max_length=50,
        help_text="Votre numéro de consultation, unique pour l'acheteur (par exemple 2026-TX-01).",
    )
    title = forms.CharField(label="Objet du marché", max_length=300)
    description = forms.CharField(
        label="Description",
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="Ce que les entreprises lisent d'abord : besoin, durée, lieux, options.",
    )
    nature = forms.ChoiceField(label="Nature du marché", choices=Consultation.Nature.choices)
    procedure = forms.ChoiceField(
        label="Procédure", choices=Consultation.Procedure.choices, help_text=PROCEDURE_HELP
    )
    authority_type = forms.ChoiceField(
        label="Type d'acheteur",
        choices=Consultation.AuthorityType.choices,
        initial=Consultation.AuthorityType.LOCAL,
    )
    cpv_main = CpvField(
        label="Code CPV principal",
        help_text="8 chiffres, un tiret et le chiffre de contrôle, par exemple 45261000-4. "
        "Tapez des chiffres ou des mots du libellé pour chercher dans la nomenclature.",
    )
    cpv_additional = CpvListField(
        label="Codes CPV complémentaires",
        required=False,
        help_text="Un code par ligne, ou séparés par des virgules.",
    )
    place_code = PlaceField(
        label="Lieu principal d'exécution",
        max_length=5,
        help_text="Numéro de département (35, 2A, 974) ou code commune INSEE (35238).",
    )
    estimated_value = forms.DecimalField(
        label="Valeur estimée (€ HT)",
        max_digits=14,
        decimal_places=2,
        min_value=Decimal("0.01"),
        error_messages={"min_value": "La valeur estimée doit être supérieure à 0 €."},
        help_text="Valeur totale du marché, toutes options et reconductions comprises (article "
        "R2121-1). Avec des lots, c'est la somme des lots, calculée automatiquement.",
    )
    deadline_date = date_field("Jour")
    deadline_time = time_field("Heure (heure de Paris)")
    questions_deadline_date = date_field("Jour", required=False)
    questions_deadline_time = time_field("Heure (heure de Paris)", required=False)
    variants_allowed = forms.BooleanField(label="Variantes autorisées", required=False)
    two_step_opening = forms.BooleanField(
        label="Ouverture en deux temps",
        required=False,
        help_text="Les candidatures sont ouvertes d'abord ; les offres des seuls candidats admis ensuite.",
    )
    max_deposit_mb = forms.IntegerField(label="Taille maximale d'un pli (Mo)", min_value=1)

    def __init__(self, *args, user: User, instance: Consultation | None = None, **kwargs) -> None:
        self.instance = instance
        if instance is not None:
            kwargs.setdefault("initial", self.initial_from(instance))
        super().__init__(*args, **kwargs)
        for name, field in _contact_fields().items():
            self.fields[name] = field
            self.fields[name].widget.attrs.setdefault("class", "fr-input")
        self.fields["authority_type"].help_text = _authority_help()
        self.dematerialisation_note = dematerialisation_note(timezone.localdate())
        limit_mb = settings.DEPOSIT_MAX_BYTES_LIMIT // MB
        size = self.fields["max_deposit_mb"]
        size.max_value = limit_mb
        size.validators.append(
            MaxValueValidator(
                limit_mb, message="La plateforme accepte des plis d'au plus %(limit_value)s Mo."
            )
        )
        size.widget.attrs["max"] = limit_mb
        size.initial = settings.DEPOSIT_MAX_BYTES_DEFAULT // MB
        size.help_text = (
            f"Au plus {limit_mb} Mo, la limite de la plateforme. Les entreprises sont prévenues "
            "avant d'envoyer un pli plus lourd."
        )
        if instance is None:
            self.fields["buyer"].queryset = Organisation.objects.staffed_by(user).order_by("name")
            if self.fields["buyer"].queryset.count() == 1:
                self.fields["buyer"].widget = forms.HiddenInput()
                self.fields["buyer"].initial = self.fields["buyer"].queryset.first().pk
        else:
            del self.fields["buyer"]
            if instance.lots.exists():
                value = self.fields["estimated_value"]
                value.disabled = True
                value.help_text = (
                    "La consultation est allotie : sa valeur est la somme des lots ; modifiez-la "
                    "depuis la page des lots."
                )
        self.fields["cpv_main"].widget.attrs["data-cpv-search"] = reverse("marches:cpv_search")
        self.fields["cpv_additional"].widget.attrs["data-cpv-append"] = reverse("marches:cpv_search")
        # Bound fields were cached by DsfrBaseForm.__init__, with the help texts of then.
        self._bound_fields_cache.clear()

    @classmethod
    def initial_from(cls, consultation: Consultation) -> dict:
        initial = {
            name: getattr(consultation, name)
            for name in (
                "reference",
                "title",
                "description",
                "nature",
                "procedure",
                "authority_type",
                "place_code",
                "estimated_value",
                "variants_allowed",
                "two_step_opening",
                "contact_name",
                "contact_email",
                "contact_phone",
            )
        }
        initial["cpv_main"] = consultation.cpv_main
        initial["cpv_additional"] = list(consultation.cpv_additional.all())
        initial["max_deposit_mb"] = max(1, consultation.max_deposit_bytes // MB)
        initial.update(cls._deadline_initial(consultation))
        return initial

    def clean(self) -> dict:
        cleaned = super().clean()
        self._clean_deadlines(cleaned)
        return cleaned

    def service_fields(self) -> dict:
        """The keyword arguments of consultation_create / consultation_update."""
        data = self.cleaned_data
        # Every field the services accept; the size is typed in Mo and converted below.
        fields = {name: data[name] for name in EDITABLE_FIELDS if name != "max_deposit_bytes"}
        fields["max_deposit_bytes"] = data["max_deposit_mb"] * MB
        if self.instance is not None:
            for name in ("deadline", "questions_deadline"):
                if same_minute(fields[name], getattr(self.instance, name)):
                    fields[name] = getattr(self.instance, name)
            # Shown rounded down to the Mo: unchanged if typed back as shown.
            if data["max_deposit_mb"] == max(1, self.instance.max_deposit_bytes // MB):
                fields["max_deposit_bytes"] = self.instance.max_deposit_bytes
        if self.fields["estimated_value"].disabled:
            del fields["estimated_value"]
        return fields


# Where an ApplicationError's details point (model field → form field).
FIELD_ALIASES = {"max_deposit_bytes": "max_deposit_mb", "deadline": "deadline_date"}


def add_service_errors(form: forms.Form, exc, aliases: dict[str, str] | None = None) -> None:
    """Show an ApplicationError on the form: next to the field it names (through `aliases`,
    model field → form field; these forms' by default), else at the top."""
    aliases = FIELD_ALIASES if aliases is None else aliases
    placed = False
    for key, messages in (exc.details or {}).items():
        name = aliases.get(key, key)
        if name in form.fields and isinstance(messages, list | tuple):
            for message in messages:
                form.add_error(name, str(message))
            placed = True
    if not placed:
        form.add_error(None, exc.message)


# --- Lots -----------------------------------------------------------------------------------


class LotForm(DsfrBaseForm):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["cpv"].widget.attrs["data-cpv-search"] = reverse("marches:cpv_search")

    number = forms.IntegerField(label="Numéro du lot", min_value=1, max_value=999)
    title = forms.CharField(label="Intitulé", max_length=300)
    cpv = CpvField(label="Code CPV du lot", required=False, help_text="Facultatif, par exemple 45261000-4.")
    estimated_value = forms.DecimalField(
        label="Valeur estimée du lot (€ HT)",
        max_digits=14,
        decimal_places=2,
        min_value=Decimal("0.01"),
        error_messages={"min_value": "La valeur estimée doit être supérieure à 0 €."},
        help_text="Hors taxes, par exemple 45000.",
    )
    description = forms.CharField(
        label="Description", required=False, widget=forms.Textarea(attrs={"rows": 2})
    )


class BaseLotFormSet(forms.BaseFormSet):
    def clean(self) -> None:
        if any(self.errors):
            return
        numbers = [form.cleaned_data["number"] for form in self.kept_forms()]
        duplicates = sorted({n for n in numbers if numbers.count(n) > 1})
        if duplicates:
            raise ValidationError(
                "Deux lots portent le même numéro : " + ", ".join(str(n) for n in duplicates) + "."
            )

    def kept_forms(self) -> list[LotForm]:
        """Filled-in forms not marked for deletion (empty extra forms have no cleaned data)."""
        return [form for form in self.forms if form.cleaned_data and not self._should_delete_form(form)]


LotFormSet = forms.formset_factory(
    LotForm,
    formset=BaseLotFormSet,
    extra=1,
    can_delete=True,
    can_delete_extra=False,
    max_num=200,
    validate_max=True,
)


# --- Commission -----------------------------------------------------------------------------


class CommissionForm(DsfrBaseForm):
    members = forms.ModelMultipleChoiceField(
        label="Membres qui détiendront une part de la clé d'ouverture",
        queryset=User.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Cochez au moins deux membres de la commission."},
    )
    president = forms.ModelChoiceField(
        label="Président de la commission",
        queryset=User.objects.none(),
        widget=forms.RadioSelect,
        error_messages={"required": "Choisissez le président parmi les membres cochés."},
    )
    quorum = forms.IntegerField(
        label="Quorum d'ouverture",
        min_value=2,
        help_text="Nombre de membres qui devront être présents pour ouvrir les plis : au moins 2, "
        "au plus le nombre de membres cochés.",
    )

    def __init__(self, *args, buyer: Organisation, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        candidates = commission_candidates(buyer)
        self.fields["members"].queryset = candidates
        self.fields["president"].queryset = candidates

    def clean(self) -> dict:
        cleaned = super().clean()
        members = list(cleaned.get("members") or [])
        president, quorum = cleaned.get("president"), cleaned.get("quorum")
        if "members" in cleaned and len(members) < 2:
            self.add_error("members", "Cochez au moins deux membres de la commission.")
        if president is not None and members and president not in members:
            self.add_error("president", "Le président doit être l'un des membres cochés.")
        if quorum is not None and members and quorum > len(members):
            self.add_error(
                "quorum",
                f"Le quorum ({quorum}) ne peut pas dépasser le nombre de membres cochés ({len(members)}).",
            )
        return cleaned


def commission_candidates(buyer: Organisation):
    return (
        User.objects.filter(
            memberships__organisation=buyer, memberships__role=Membership.Role.COMMISSION_MEMBER
        )
        .select_related("totp_device")
        .order_by("last_name", "first_name", "email")
    )


# --- DCE ------------------------------------------------------------------------------------


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def clean(self, data, initial=None):
        if isinstance(data, list | tuple):
            return [super(MultipleFileField, self).clean(item, initial) for item in data]
        return [super().clean(data, initial)]


class DceUploadForm(DsfrBaseForm):
    files = MultipleFileField(
        label="Documents à ajouter",
        widget=MultipleFileInput(attrs={"multiple": True}),
        error_messages={"required": "Choisissez au moins un fichier."},
        help_text="Vous pouvez en choisir plusieurs. Une archive .zip est décompressée et son "
        "arborescence conservée (dossiers et sous-dossiers). Un fichier portant le même chemin "
        "qu'un document existant le remplace.",
    )
    folder = forms.CharField(
        label="Dossier de destination",
        required=False,
        max_length=300,
        help_text="Facultatif, par exemple « Pièces techniques/Plans ». Laissez vide pour la racine du DCE.",
    )


class UnscannedAcceptForm(DsfrBaseForm):
    reason = forms.CharField(
        label="Pourquoi publier ces documents sans analyse antivirus ?",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Par exemple « Documents produits par nos services et analysés par l'antivirus du "
        "poste de travail ». Ce motif est inscrit au journal avec votre nom.",
        error_messages={
            "required": "Indiquez pourquoi vous acceptez de publier ces documents sans analyse antivirus."
        },
    )


# --- Amendment (avis rectificatif) ----------------------------------------------------------


class AmendForm(DeadlinesMixin, DsfrBaseForm):
    note = forms.CharField(
        label="Nature des modifications",
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="Publié dans l'avis rectificatif et envoyé aux entreprises inscrites au registre des "
        "retraits, par exemple « Report de la date limite ; nouveau CCTP (article 4.2) ».",
        error_messages={"required": "Décrivez les modifications apportées par l'avis rectificatif."},
    )
    deadline_date = date_field("Jour")
    deadline_time = time_field("Heure (heure de Paris)")
    questions_deadline_date = date_field("Jour", required=False)
    questions_deadline_time = time_field("Heure (heure de Paris)", required=False)
    description = forms.CharField(label="Description", widget=forms.Textarea(attrs={"rows": 5}))

    def __init__(self, *args, consultation: Consultation, **kwargs) -> None:
        self.consultation = consultation
        initial = {
            "description": consultation.description,
            "contact_name": consultation.contact_name,
            "contact_email": consultation.contact_email,
            "contact_phone": consultation.contact_phone,
            **self._deadline_initial(consultation),
        }
        kwargs.setdefault("initial", initial)
        super().__init__(*args, **kwargs)
        for name, field in _contact_fields().items():
            self.fields[name] = field
            self.fields[name].widget.attrs.setdefault("class", "fr-input")

    def clean(self) -> dict:
        cleaned = super().clean()
        self._clean_deadlines(cleaned)
        return cleaned

    def changed_fields(self) -> dict:
        """Only what the amendment changes, as consultation_amend expects."""
        data = self.cleaned_data
        changed = {}
        for name in (
            "deadline",
            "questions_deadline",
            "description",
            "contact_name",
            "contact_email",
            "contact_phone",
        ):
            typed, stored = data.get(name), getattr(self.consultation, name)
            if name.endswith("deadline") and same_minute(typed, stored):
                continue
            if typed != stored:
                changed[name] = typed
        return changed


# --- Outcome --------------------------------------------------------------------------------


REASON_REQUIRED_MESSAGE = (
    "Indiquez le motif de la décision : il est obligatoire pour une procédure infructueuse ou "
    "déclarée sans suite."
)


class DeclareForm(DsfrBaseForm):
    """The reason is required for the outcomes that need one (services.REASON_REQUIRED):
    the field says so, required when every decision offered needs it, marked neither way
    when it depends on the decision chosen, « facultatif » when none does."""

    outcome = forms.ChoiceField(label="Décision", widget=forms.RadioSelect)
    reason = forms.CharField(
        label="Motif",
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, choices: list[tuple[str, str]], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["outcome"].choices = choices
        needing = [label for value, label in choices if value in REASON_REQUIRED]
        reason = self.fields["reason"]
        if needing and len(needing) == len(choices):
            reason.required = True
            reason.error_messages["required"] = REASON_REQUIRED_MESSAGE
            reason.help_text = "Il est communiqué aux candidats (article R2185-1)."
        elif needing:
            reason.template_name = "includes/field_conditional.html"
            reason.label = "Motif — obligatoire si la procédure est " + " ou ".join(
                f"« {label.lower()} »" for label in needing
            )
            reason.help_text = "Il est alors communiqué aux candidats (article R2185-1)."
        self._bound_fields_cache.clear()

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("outcome") in REASON_REQUIRED and not (cleaned.get("reason") or "").strip():
            self.add_error("reason", REASON_REQUIRED_MESSAGE)
        return cleaned
