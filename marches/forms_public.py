"""Forms of the public pages: the consultation search (a GET form whose every filter is
checked, so a bad value is a French error message, never a crash) and the optional
identification of a visitor who downloads the DCE."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from dsfr.forms import DsfrBaseForm

from comptes.models import Organisation

from .models import DEPARTEMENTS, Consultation, CpvCode, parse_cpv


def _departement_key(code: str) -> tuple[int, str]:
    # Corsica (2A, 2B) sits where 20 used to be; overseas (971…) after 95.
    return (20, code) if code in {"2A", "2B"} else (int(code), "")


DEPARTEMENT_CHOICES = [("", "Tous les départements")] + [
    (code, code) for code in sorted(DEPARTEMENTS, key=_departement_key)
]


# The dates a search filter accepts. Outside them a date means nothing for a deadline, and the
# day after the last one, or midnight in Paris of the first one in UTC, would not even be a
# date Python or SQLite can hold (9999-12-31, 0001-01-01).
DATE_MIN = date(1900, 1, 1)
DATE_MAX = date(2999, 12, 31)
DATE_RANGE_MESSAGE = "Indiquez une date comprise entre le 01/01/1900 et le 31/12/2999."
DATE_VALIDATORS = [
    MinValueValidator(DATE_MIN, message=DATE_RANGE_MESSAGE),
    MaxValueValidator(DATE_MAX, message=DATE_RANGE_MESSAGE),
]


class SearchForm(DsfrBaseForm):
    SORT_DEADLINE = "deadline"
    SORT_RECENT = "recent"
    SORT_RELEVANCE = "relevance"
    SORT_CHOICES = [
        (SORT_DEADLINE, "Date limite la plus proche"),
        (SORT_RECENT, "Publication la plus récente"),
        (SORT_RELEVANCE, "Pertinence (avec des mots-clés)"),
    ]

    q = forms.CharField(
        label="Mots-clés",
        help_text="Recherchés dans l'objet et la description des consultations.",
        required=False,
        max_length=200,
        widget=forms.TextInput(attrs={"type": "search"}),
    )
    cpv = forms.CharField(
        label="Code CPV",
        help_text="Par exemple 45000000 ou 45000000-7 : "
        "les codes plus précis de la même famille sont inclus.",
        required=False,
        max_length=12,
    )
    nature = forms.ChoiceField(
        label="Nature", required=False, choices=[("", "Toutes les natures"), *Consultation.Nature.choices]
    )
    procedure = forms.ChoiceField(
        label="Procédure",
        required=False,
        choices=[("", "Toutes les procédures"), *Consultation.Procedure.choices],
    )
    departement = forms.ChoiceField(
        label="Département du lieu d'exécution", required=False, choices=DEPARTEMENT_CHOICES
    )
    buyer = forms.ModelChoiceField(
        label="Acheteur",
        required=False,
        queryset=Organisation.objects.none(),
        empty_label="Tous les acheteurs",
        error_messages={"invalid_choice": "Cet acheteur n'a publié aucune consultation."},
    )
    deadline_from = forms.DateField(
        label="Date limite à partir du",
        required=False,
        validators=DATE_VALIDATORS,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    deadline_to = forms.DateField(
        label="Date limite jusqu'au",
        required=False,
        validators=DATE_VALIDATORS,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )
    include_closed = forms.BooleanField(label="Inclure les consultations clôturées", required=False)
    sort = forms.ChoiceField(label="Trier par", required=False, choices=SORT_CHOICES)

    @classmethod
    def from_query(cls, query) -> SearchForm:
        """A bound form from the query string, with the sort that applies when none is chosen
        (relevance with keywords, else the closest deadline), so the select shows it."""
        data = query.copy()
        has_words = bool(data.get("q", "").strip())
        if not data.get("sort") or (data.get("sort") == cls.SORT_RELEVANCE and not has_words):
            data["sort"] = cls.SORT_RELEVANCE if has_words else cls.SORT_DEADLINE
        return cls(data)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Only buyers with something public: a select that never leads to an empty page.
        self.fields["buyer"].queryset = (
            Organisation.objects.filter(kind=Organisation.Kind.BUYER)
            .filter(models.Exists(Consultation.objects.public().filter(buyer=models.OuterRef("pk"))))
            .only("pk", "name")
            .order_by("name")
        )
        for name in ("deadline_from", "deadline_to"):
            # Browsers send the ISO date of <input type="date">; people may type 14/12/2026.
            self.fields[name].input_formats = ["%Y-%m-%d", "%d/%m/%Y"]

    def clean_q(self) -> str:
        return " ".join(self.cleaned_data["q"].split())

    def clean_cpv(self) -> CpvCode | None:
        value = self.cleaned_data["cpv"].strip()
        return parse_cpv(value) if value else None

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("deadline_from"), cleaned.get("deadline_to")
        if start and end and start > end:
            self.add_error("deadline_to", "Cette date doit être postérieure ou égale à la date de début.")
        return cleaned

    @property
    def effective_sort(self) -> str:
        """Relevance only means something with keywords; otherwise the closest deadline."""
        sort, has_words = self.cleaned_data.get("sort"), bool(self.cleaned_data.get("q"))
        if sort == self.SORT_RELEVANCE and not has_words:
            return self.SORT_DEADLINE
        return sort or (self.SORT_RELEVANCE if has_words else self.SORT_DEADLINE)

    def results(self, now: datetime | None = None) -> models.QuerySet[Consultation]:
        """The filtered and ordered consultations, without related rows (see
        views.public.search for how a page is fetched); call after is_valid()."""
        now = now or timezone.now()
        data = self.cleaned_data
        queryset = Consultation.objects.public()
        if not data.get("include_closed"):
            queryset = queryset.open_for_deposits(now)
        if data.get("q"):
            queryset = queryset.search(data["q"])
        if data.get("cpv"):
            queryset = queryset.with_cpv(data["cpv"])
        for field in ("nature", "procedure", "departement", "buyer"):
            if data.get(field):
                queryset = queryset.filter(**{field: data[field]})
        if data.get("deadline_from"):
            queryset = queryset.filter(deadline__gte=_start_of_day(data["deadline_from"]))
        if data.get("deadline_to"):
            queryset = queryset.filter(deadline__lt=_start_of_day(data["deadline_to"] + timedelta(days=1)))
        return self._ordered(queryset, now)

    def _ordered(self, queryset, now):
        sort = self.effective_sort
        if sort == self.SORT_RECENT:
            return queryset.order_by("-published_at", "-pk")
        if sort == self.SORT_RELEVANCE:
            return queryset.order_by("-rank", "deadline", "pk")
        if not self.cleaned_data.get("include_closed"):
            return queryset.order_by("deadline", "pk")
        # Closest deadline first among open consultations, then the most recently closed.
        return queryset.annotate(
            is_past=models.Case(
                models.When(deadline__gt=now, then=models.Value(0)),
                default=models.Value(1),
                output_field=models.IntegerField(),
            )
        ).order_by(
            "is_past",
            models.Case(models.When(deadline__gt=now, then=models.F("deadline"))).asc(nulls_last=True),
            models.F("deadline").desc(),
            "pk",
        )


def _start_of_day(day) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


class DownloadIdentityForm(DsfrBaseForm):
    name = forms.CharField(
        label="Nom et prénom",
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    email = forms.EmailField(
        label="Adresse e-mail",
        help_text="Format attendu : nom@entreprise.fr",
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    company_name = forms.CharField(
        label="Entreprise",
        required=False,
        max_length=255,
        widget=forms.TextInput(attrs={"autocomplete": "organization"}),
    )

    def clean_name(self) -> str:
        name = " ".join(self.cleaned_data["name"].split())
        if not name:
            raise ValidationError("Indiquez votre nom.")
        return name
