"""Consultations through the API: the public search and pages, and the buyer's own
consultations (create, edit, add DCE files, publish). Thin views: reads go through the
querysets, writes through marches.services, and an id outside the caller's scope is a 404
journaled as `access.denied`."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models.functions import Coalesce
from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from comptes.access import get_in_scope_or_404
from comptes.models import Membership, Organisation, User
from config.errors import ApplicationError
from marches import services
from marches.forms_public import SearchForm
from marches.models import CommissionSeat, Consultation, DceFile, DceVersion, Lot
from offres.models import KeyShare, OpeningKey

from .errors import ErrorSerializer
from .fields import (
    SMALL_MAX,
    AmountField,
    AwareDateTimeField,
    BoundedDateField,
    CpvInputField,
    CpvQueryField,
    DepartementField,
    FolderField,
    PlaceField,
    TextField,
    identifier,
)
from .schema import QueryAutoSchema

PUBLIC_TAGS = ["consultations"]
BUYER_TAGS = ["acheteur"]


# --- Helpers ----------------------------------------------------------------------------


def _flatten(errors: Any, prefix: str = "") -> list[str]:
    """Every message of a serializer's errors, each led by the field it concerns."""
    if isinstance(errors, dict):
        return [m for key, value in errors.items() for m in _flatten(value, f"{prefix}{key}.")]
    if isinstance(errors, list) and errors and all(isinstance(e, str) for e in errors):
        field = prefix.rstrip(".")
        lead = "" if field in ("", "non_field_errors") else f"{field} : "
        return [f"{lead}{e}" for e in errors]
    if isinstance(errors, list):
        return [m for i, value in enumerate(errors) if value for m in _flatten(value, f"{prefix}{i}.")]
    return [f"{prefix.rstrip('.')} : {errors}"]


def validated(serializer: serializers.Serializer) -> dict:
    """The serializer's data, or an ApplicationError whose message says in French what is
    wrong with which field (the details keep DRF's structure, field by field)."""
    if not serializer.is_valid():
        raise ApplicationError(
            " ".join(_flatten(serializer.errors)), code="validation", details=serializer.errors
        )
    return serializer.validated_data


def absolute(path: str) -> str:
    return settings.SITE_URL + path


def public_url(consultation: Consultation) -> str | None:
    if consultation.state in (Consultation.State.DRAFT, Consultation.State.ARCHIVED):
        return None
    return absolute(reverse("marches:detail", args=[consultation.pk]))


def _published_dce_version() -> models.Subquery:
    return models.Subquery(
        DceVersion.objects.filter(consultation=models.OuterRef("pk"), published_at__isnull=False)
        .order_by("-number")
        .values("number")[:1]
    )


def _working_dce_version() -> models.Subquery:
    return models.Subquery(
        DceVersion.objects.filter(consultation=models.OuterRef("pk"), published_at__isnull=True).values(
            "number"
        )[:1]
    )


def _lots_count() -> Coalesce:
    # A subquery rather than Count("lots"): no GROUP BY over the search rank or the
    # membership join of `managed_by`.
    counted = (
        Lot.objects.filter(consultation=models.OuterRef("pk"))
        .order_by()
        .values("consultation")
        .annotate(n=models.Count("pk"))
        .values("n")
    )
    return Coalesce(models.Subquery(counted), 0)


def for_list(queryset: models.QuerySet) -> models.QuerySet:
    return queryset.select_related("buyer", "cpv_main").annotate(lots_count=_lots_count())


def for_detail(queryset: models.QuerySet) -> models.QuerySet:
    return (
        queryset.select_related("buyer", "cpv_main")
        .prefetch_related(
            models.Prefetch("lots", Lot.objects.select_related("cpv")),
            "cpv_additional",
            models.Prefetch(
                "opening_keys",
                OpeningKey.objects.order_by("envelope").prefetch_related(
                    models.Prefetch("shares", KeyShare.objects.order_by("index"))
                ),
            ),
        )
        .annotate(dce_version=_published_dce_version())
    )


def for_buyer_detail(queryset: models.QuerySet) -> models.QuerySet:
    return (
        for_detail(queryset)
        .prefetch_related(models.Prefetch("commission", CommissionSeat.objects.select_related("member")))
        .annotate(dce_working_version=_working_dce_version())
    )


# --- Output serializers -------------------------------------------------------------------


class BuyerRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    siret = serializers.CharField(allow_null=True)


class CpvSerializer(serializers.Serializer):
    code = serializers.CharField()
    check_digit = serializers.CharField()
    label = serializers.CharField(source="label_fr")


class ProcedureSerializer(serializers.Serializer):
    # A string rather than a second enum of the same choices under another name ("code").
    code = serializers.CharField(source="procedure", help_text="Voir le paramètre `procedure`.")
    label = serializers.CharField(source="get_procedure_display")


class ConsultationListItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField()
    title = serializers.CharField()
    buyer = BuyerRefSerializer()
    nature = serializers.ChoiceField(choices=Consultation.Nature.choices)
    nature_label = serializers.CharField(source="get_nature_display")
    procedure = ProcedureSerializer(source="*")
    cpv_main = CpvSerializer()
    departement = serializers.CharField()
    deadline = serializers.DateTimeField(help_text="Date limite de remise des plis, avec le fuseau.")
    state = serializers.ChoiceField(
        choices=Consultation.State.choices,
        source="current_state",
        help_text="État à l'instant de la requête : une consultation dont la date limite est passée est "
        "« closed » même avant que la clôture soit enregistrée.",
    )
    state_label = serializers.CharField(source="get_current_state_display")
    published_at = serializers.DateTimeField(allow_null=True)
    url = serializers.SerializerMethodField(help_text="Page publique de la consultation.")
    lots_count = serializers.IntegerField()

    def get_url(self, consultation) -> str | None:
        return public_url(consultation)


class ConsultationPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = ConsultationListItemSerializer(many=True)


class LotSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    title = serializers.CharField()
    description = serializers.CharField()
    cpv = CpvSerializer(allow_null=True)


class ContactSerializer(serializers.Serializer):
    name = serializers.CharField(source="contact_name")
    email = serializers.EmailField(source="contact_email")
    phone = serializers.CharField(source="contact_phone")


class ShareCommitmentSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Rang de la part.")
    commitment = serializers.CharField(
        help_text="Engagement publié sur la part (SHA-256 en hexadécimal) : vérifié en séance d'ouverture "
        "avant que la part serve (docs/opening-keys.md)."
    )


class OpeningKeySerializer(serializers.Serializer):
    envelope = serializers.CharField(help_text="« application » (candidature) ou « offer » (offre).")
    envelope_label = serializers.CharField(source="get_envelope_display")
    recipient = serializers.CharField(
        help_text="Destinataire age (age1…) pour lequel chiffrer les fichiers de cette enveloppe : "
        "`age -r age1… -o fichier.age fichier`."
    )
    threshold = serializers.IntegerField(
        help_text="Parts nécessaires pour ouvrir (0 : consultation de test)."
    )
    share_count = serializers.IntegerField(help_text="Parts détenues par les membres de la commission.")
    commitments = ShareCommitmentSerializer(many=True, source="shares.all")


class ConsultationDetailSerializer(ConsultationListItemSerializer):
    description = serializers.CharField()
    place_code = serializers.CharField(help_text="Lieu d'exécution : département ou code commune INSEE.")
    cpv_additional = CpvSerializer(many=True, source="cpv_additional.all")
    lots = LotSerializer(many=True, source="lots.all")
    lots_count = None
    questions_deadline = serializers.DateTimeField(allow_null=True)
    variants_allowed = serializers.BooleanField()
    two_step_opening = serializers.BooleanField()
    max_deposit_bytes = serializers.IntegerField(help_text="Taille maximale d'un pli, en octets.")
    contact = ContactSerializer(source="*")
    dce_version = serializers.IntegerField(
        allow_null=True, help_text="Numéro de la version publiée en vigueur du DCE."
    )
    recipients = serializers.SerializerMethodField(
        help_text="Destinataires age publiés, par enveloppe : les mêmes que `recipients` dans la réponse de "
        "« Commencer un dépôt ». À comparer (épingler) avant de chiffrer ; vide tant que la consultation "
        "n'a pas de clés d'ouverture."
    )
    opening_keys = OpeningKeySerializer(
        many=True,
        source="opening_keys.all",
        help_text="Les clés d'ouverture, une par enveloppe : destinataire, quorum et engagements publiés sur "
        "les parts de la commission, comme sur la page de la consultation. Vide tant qu'il n'y en a pas.",
    )

    def get_recipients(self, consultation) -> dict[str, str]:
        return {key.envelope: key.recipient for key in consultation.opening_keys.all()}


class DceDocumentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    path = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    scan_status = serializers.ChoiceField(choices=DceFile.ScanStatus.choices)
    scan_status_label = serializers.CharField(source="get_scan_status_display")
    download_url = serializers.SerializerMethodField()

    def get_download_url(self, dce_file) -> str:
        return absolute(reverse("marches:file_download", args=[self.context["consultation"].pk, dce_file.pk]))


class DceDocumentsSerializer(serializers.Serializer):
    version = serializers.IntegerField(allow_null=True)
    published_at = serializers.DateTimeField(allow_null=True)
    zip_url = serializers.URLField(allow_null=True, help_text="Tout le DCE de cette version en un zip.")
    files = DceDocumentSerializer(many=True)


class BuyerLotSerializer(LotSerializer):
    estimated_value = serializers.DecimalField(max_digits=14, decimal_places=2)


class CommissionSeatSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="member.pk")
    name = serializers.CharField(source="member.get_full_name")
    email = serializers.EmailField(source="member.email")
    is_president = serializers.BooleanField()


class BuyerConsultationDetailSerializer(ConsultationDetailSerializer):
    """The buyer's view: any state, and what the public does not see."""

    authority_type = serializers.ChoiceField(choices=Consultation.AuthorityType.choices)
    estimated_value = serializers.DecimalField(max_digits=14, decimal_places=2)
    lots = BuyerLotSerializer(many=True, source="lots.all")
    commission = CommissionSeatSerializer(many=True, source="commission.all")
    quorum = serializers.IntegerField()
    dce_working_version = serializers.IntegerField(
        allow_null=True, help_text="Version du DCE en préparation (non publiée), s'il y en a une."
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class DceUploadedFileSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    path = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    scan_status = serializers.ChoiceField(choices=DceFile.ScanStatus.choices)
    scan_status_label = serializers.CharField(source="get_scan_status_display")


class DceUploadResultSerializer(serializers.Serializer):
    version = serializers.IntegerField(help_text="Version du DCE (en préparation) qui reçoit les fichiers.")
    files = DceUploadedFileSerializer(many=True)


# --- Public: search, detail, documents ------------------------------------------------------


PAGE_ERRORS = {
    400: ErrorSerializer,
    404: OpenApiResponse(ErrorSerializer, description="Page hors de la liste (au-delà de la dernière)."),
}


class ConsultationPagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100


# API name → the search page's name (marches.forms_public.SearchForm).
FORM_FIELDS = {"deadline_after": "deadline_from", "deadline_before": "deadline_to", "ordering": "sort"}
FORM_SORTS = {"deadline": SearchForm.SORT_DEADLINE, "-published_at": SearchForm.SORT_RECENT}


class PageParamsSerializer(serializers.Serializer):
    page = serializers.IntegerField(required=False, min_value=1)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=100)


class ConsultationFilterSerializer(PageParamsSerializer):
    q = TextField(required=False, allow_blank=True, max_length=200, help_text="Recherche plein texte.")
    # Checked against the CPV list by the search form (one lookup).
    cpv = CpvQueryField(
        required=False,
        allow_blank=True,
        help_text="Code CPV (« 45000000 » ou « 45000000-7 ») : ce code et ses descendants, en code "
        "principal ou complémentaire.",
    )
    nature = serializers.ChoiceField(choices=Consultation.Nature.choices, required=False)
    procedure = serializers.ChoiceField(choices=Consultation.Procedure.choices, required=False)
    departement = DepartementField(required=False, help_text="Numéro de département : 35, 2A, 974.")
    buyer = identifier(
        required=False, help_text="Identifiant de l'acheteur ; 404 s'il n'a publié aucune consultation."
    )
    deadline_after = BoundedDateField(required=False, help_text="Date limite à partir de ce jour.")
    deadline_before = BoundedDateField(required=False, help_text="Date limite jusqu'à ce jour inclus.")
    include_closed = serializers.BooleanField(
        required=False, default=False, help_text="Inclure les consultations clôturées et terminées."
    )
    ordering = serializers.ChoiceField(
        choices=[
            ("deadline", "Date limite la plus proche"),
            ("-published_at", "Publiées le plus récemment"),
            ("relevance", "Pertinence (avec q ; sans q, date limite)"),
        ],
        required=False,
        help_text="Par défaut : pertinence avec q, sinon date limite la plus proche (et, avec "
        "include_closed, les consultations ouvertes d'abord, puis les plus récemment clôturées).",
    )

    def validate(self, attrs):
        after, before = attrs.get("deadline_after"), attrs.get("deadline_before")
        if after and before and after > before:
            raise serializers.ValidationError(
                {"deadline_before": ["Doit être postérieure ou égale à deadline_after."]}
            )
        return attrs


def search_consultations(filters: dict) -> models.QuerySet:
    """The public search page's own filters and orderings (its form is their one definition),
    fed from the API's parameters, already checked by ConsultationFilterSerializer."""
    data = {
        "q": filters.get("q", ""),
        "cpv": filters.get("cpv", ""),
        "nature": filters.get("nature", ""),
        "procedure": filters.get("procedure", ""),
        "departement": filters.get("departement", ""),
        "buyer": filters.get("buyer", ""),
        "deadline_from": filters.get("deadline_after", ""),
        "deadline_to": filters.get("deadline_before", ""),
        "include_closed": filters["include_closed"],
        "sort": FORM_SORTS.get(filters.get("ordering"), filters.get("ordering", "")),
    }
    form = SearchForm.from_query({name: str(value) for name, value in data.items() if value})
    if not form.is_valid():
        api_names = {form_name: api_name for api_name, form_name in FORM_FIELDS.items()}
        details = {api_names.get(name, name): list(errors) for name, errors in form.errors.items()}
        if set(details) == {"buyer"}:
            # A well-formed id of no buyer with something public: nothing to search in.
            raise ApplicationError(" ".join(_flatten(details)), code="not_found", status=404, details=details)
        raise ApplicationError(" ".join(_flatten(details)), code="validation", details=details)
    return for_list(form.results())


class ConsultationListView(APIView):
    """Consultations published on the platform."""

    permission_classes = [permissions.AllowAny]
    schema = QueryAutoSchema()

    @extend_schema(
        operation_id="consultations_list",
        summary="Rechercher les consultations publiées",
        description="Par défaut, les consultations ouvertes aux dépôts (date limite à venir).",
        parameters=[ConsultationFilterSerializer],
        responses={
            200: ConsultationPageSerializer,
            **PAGE_ERRORS,
            401: ErrorSerializer,
            404: OpenApiResponse(
                ErrorSerializer,
                description="Page au-delà de la dernière, ou acheteur sans consultation publiée.",
            ),
        },
        tags=PUBLIC_TAGS,
    )
    def get(self, request):
        filters = validated(ConsultationFilterSerializer(data=request.query_params))
        paginator = ConsultationPagination()
        page = paginator.paginate_queryset(search_consultations(filters), request, view=self)
        return paginator.get_paginated_response(ConsultationListItemSerializer(page, many=True).data)


def _public_consultation(request, pk: int, queryset: models.QuerySet | None = None) -> Consultation:
    if queryset is None:
        queryset = Consultation.objects.public()
    return get_in_scope_or_404(request, queryset, pk=pk)


class ConsultationDetailView(APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        operation_id="consultations_retrieve",
        summary="Consultation publiée",
        responses={200: ConsultationDetailSerializer, 401: ErrorSerializer, 404: ErrorSerializer},
        tags=PUBLIC_TAGS,
    )
    def get(self, request, pk: int):
        consultation = _public_consultation(request, pk, for_detail(Consultation.objects.public()))
        return Response(ConsultationDetailSerializer(consultation).data)


class ConsultationDocumentsView(APIView):
    permission_classes = [permissions.AllowAny]

    @extend_schema(
        operation_id="consultations_documents",
        summary="Documents de la version en vigueur du DCE",
        description="Le téléchargement est libre et peut être anonyme.",
        responses={200: DceDocumentsSerializer, 401: ErrorSerializer, 404: ErrorSerializer},
        tags=PUBLIC_TAGS,
    )
    def get(self, request, pk: int):
        consultation = _public_consultation(request, pk)
        version = consultation.dce_versions.filter(published_at__isnull=False).order_by("-number").first()
        files = list(version.files.order_by("path")) if version else []
        zip_url = (
            absolute(reverse("marches:zip_download", args=[consultation.pk, version.number]))
            if version
            else None
        )
        data = DceDocumentsSerializer(
            {
                "version": version.number if version else None,
                "published_at": version.published_at if version else None,
                "zip_url": zip_url,
                "files": files,
            },
            context={"consultation": consultation},
        ).data
        return Response(data)


# --- Buyer: input serializers ---------------------------------------------------------------


class LotInputSerializer(serializers.Serializer):
    number = serializers.IntegerField(min_value=1, max_value=SMALL_MAX)
    title = TextField(max_length=300)
    cpv = CpvInputField(required=False, allow_null=True)
    estimated_value = AmountField()
    description = TextField(required=False, allow_blank=True, default="")


LOT_REQUIRED = ("number", "title", "estimated_value")
COMMISSION_REQUIRED = ("members", "president", "quorum")


class CommissionInputSerializer(serializers.Serializer):
    members = serializers.ListField(
        child=identifier(),
        min_length=2,
        help_text="Identifiants des membres de la commission de l'acheteur (au moins deux) ; le "
        "président est l'un d'eux et le quorum n'en dépasse pas le nombre (400 sinon).",
    )
    president = identifier(help_text="Identifiant du président, l'un des membres.")
    quorum = serializers.IntegerField(
        min_value=2,
        max_value=SMALL_MAX,
        help_text="Nombre de membres nécessaires à l'ouverture des plis (≥ 2).",
    )


class ConsultationFieldsSerializer(serializers.Serializer):
    reference = TextField(max_length=50)
    title = TextField(max_length=300)
    description = TextField()
    nature = serializers.ChoiceField(choices=Consultation.Nature.choices)
    procedure = serializers.ChoiceField(choices=Consultation.Procedure.choices)
    authority_type = serializers.ChoiceField(choices=Consultation.AuthorityType.choices, required=False)
    cpv_main = CpvInputField(help_text="Code CPV principal, par exemple 45261000-4.")
    cpv_additional = serializers.ListField(child=CpvInputField(), required=False)
    place_code = PlaceField(help_text="Lieu d'exécution : département (35, 2A, 974) ou code commune INSEE.")
    estimated_value = AmountField(
        required=False,
        help_text="Valeur estimée en euros HT ; avec des lots, leur somme (facultative alors).",
    )
    deadline = AwareDateTimeField(help_text="Date limite de remise des plis, avec le décalage horaire.")
    questions_deadline = AwareDateTimeField(required=False, allow_null=True)
    variants_allowed = serializers.BooleanField(required=False)
    two_step_opening = serializers.BooleanField(required=False)
    max_deposit_bytes = serializers.IntegerField(
        required=False, min_value=1, max_value=settings.DEPOSIT_MAX_BYTES_LIMIT
    )
    contact_name = TextField(max_length=150)
    contact_email = serializers.EmailField()
    contact_phone = TextField(max_length=30, required=False, allow_blank=True)
    lots = LotInputSerializer(
        many=True,
        required=False,
        help_text="Au moins deux lots, ou aucun (marché unique), de numéros distincts ; remplace "
        "l'existant ; leur somme devient la valeur estimée, 999 999 999 999,99 € au plus (400 sinon).",
    )
    commission = CommissionInputSerializer(required=False, help_text="Remplace la commission.")

    def validate(self, attrs):
        # A PATCH is partial down to the lots and the commission (DRF), but they replace the
        # existing ones: each is whole.
        lots = attrs.get("lots") or []
        missing = {
            str(i): {name: ["Ce champ est obligatoire."] for name in LOT_REQUIRED if name not in lot}
            for i, lot in enumerate(lots)
            if any(name not in lot for name in LOT_REQUIRED)
        }
        if missing:
            raise serializers.ValidationError({"lots": missing})
        commission = attrs.get("commission")
        if commission is not None and any(name not in commission for name in COMMISSION_REQUIRED):
            missing = {
                name: ["Ce champ est obligatoire."] for name in COMMISSION_REQUIRED if name not in commission
            }
            raise serializers.ValidationError({"commission": missing})
        if lots:
            # With lots, the consultation's value is their sum (services.lots_set).
            total = sum(lot["estimated_value"] for lot in lots)
            if total >= 10**12:
                raise serializers.ValidationError(
                    {"lots": ["La somme des valeurs des lots dépasse 999 999 999 999,99 €."]}
                )
            if not self.partial and "estimated_value" not in attrs:
                attrs["estimated_value"] = total
        elif not self.partial and "estimated_value" not in attrs:
            raise serializers.ValidationError({"estimated_value": ["Ce champ est obligatoire."]})
        return attrs


class ConsultationCreateSerializer(ConsultationFieldsSerializer):
    buyer = identifier(
        required=False,
        help_text="Identifiant de l'acheteur ; obligatoire si vous agissez pour plusieurs acheteurs.",
    )


class DceUploadSerializer(serializers.Serializer):
    files = serializers.ListField(
        child=serializers.FileField(),
        min_length=1,
        help_text="Un ou plusieurs fichiers, de noms distincts ; un zip est décompressé.",
    )
    folder = FolderField(
        required=False,
        allow_blank=True,
        help_text="Dossier de destination : un chemin relatif, sans « .. », sans caractère de contrôle "
        "(400 sinon).",
    )


# --- Buyer: views -------------------------------------------------------------------------


class IsBuyerStaff(permissions.BasePermission):
    """Administrators and agents of at least one buyer; the consultation itself is then fetched
    through `managed_by`, so another buyer's id is a 404."""

    def has_permission(self, request, view) -> bool:
        return Organisation.objects.staffed_by(request.user).exists()


BUYER_PERMISSIONS = [permissions.IsAuthenticated, IsBuyerStaff]
BUYER_ERRORS = {401: ErrorSerializer, 403: ErrorSerializer}


def _managed(request, pk: int, queryset: models.QuerySet | None = None) -> Consultation:
    if queryset is None:
        queryset = Consultation.objects.managed_by(request.user)
    return get_in_scope_or_404(request, queryset, pk=pk)


def _buyer_detail(request, pk: int) -> dict:
    consultation = for_buyer_detail(Consultation.objects.managed_by(request.user)).get(pk=pk)
    return BuyerConsultationDetailSerializer(consultation).data


def _buyer_for_creation(user: User, buyer_id: int | None) -> Organisation:
    buyers = Organisation.objects.staffed_by(user)
    if buyer_id is not None:
        buyer = buyers.filter(pk=buyer_id).first()
        if buyer is None:
            # Scoped fetch: another buyer's id, like an unknown one, is not there for the caller.
            raise ApplicationError(
                "Acheteur inconnu, ou dont vous n'êtes ni administrateur ni agent.",
                code="not_found",
                status=404,
                details={"buyer": ["Acheteur inconnu, ou dont vous n'êtes ni administrateur ni agent."]},
            )
        return buyer
    found = list(buyers[:2])
    if len(found) > 1:
        raise ApplicationError(
            "Vous agissez pour plusieurs acheteurs : indiquez lequel (champ buyer).",
            code="validation",
            details={"buyer": ["Ce champ est obligatoire quand vous agissez pour plusieurs acheteurs."]},
        )
    return found[0]


def _reference_free(buyer: Organisation, reference: str, exclude: int | None = None) -> None:
    """A reference the buyer already gave another consultation is a conflict (409), as the
    database's unique constraint, checked again by the service, would have it."""
    taken = Consultation.objects.filter(buyer=buyer, reference=reference).exclude(pk=exclude)
    if taken.exists():
        message = "Une consultation de cet acheteur porte déjà cette référence."
        raise ApplicationError(message, code="duplicate", status=409, details={"reference": [message]})


def _commission_members(buyer: Organisation, data: dict) -> tuple[list[User], User]:
    """The users behind the ids, looked up among the buyer's commission members only."""
    wanted = list(dict.fromkeys(data["members"]))
    members = {
        m.user_id: m.user
        for m in Membership.objects.filter(
            organisation=buyer, role=Membership.Role.COMMISSION_MEMBER, user_id__in=wanted
        ).select_related("user")
    }
    unknown = [str(pk) for pk in wanted if pk not in members]
    if unknown:
        message = "Ne sont pas membres de la commission de l'acheteur : " + ", ".join(unknown) + "."
        raise ApplicationError(message, code="validation", details={"commission": {"members": [message]}})
    if data["president"] not in members:
        message = "Le président doit être l'un des membres désignés."
        raise ApplicationError(message, code="validation", details={"commission": {"president": [message]}})
    return [members[pk] for pk in wanted], members[data["president"]]


def _apply_lots_and_commission(consultation: Consultation, user: User, data: dict) -> None:
    if "lots" in data:
        services.lots_set(
            consultation=consultation,
            updated_by=user,
            lots=[
                services.LotInput(
                    number=lot["number"],
                    title=lot["title"],
                    estimated_value=lot["estimated_value"],
                    cpv=lot.get("cpv"),
                    description=lot.get("description", ""),
                )
                for lot in data["lots"]
            ],
        )
    if "commission" in data:
        members, president = _commission_members(consultation.buyer, data["commission"])
        services.commission_set(
            consultation=consultation,
            updated_by=user,
            members=members,
            president=president,
            quorum=data["commission"]["quorum"],
        )


def _consultation_fields(data: dict) -> dict:
    return {k: v for k, v in data.items() if k not in ("buyer", "lots", "commission", "cpv_additional")}


class BuyerConsultationListView(APIView):
    """The consultations of the buyers the caller works for, in any state."""

    permission_classes = BUYER_PERMISSIONS
    schema = QueryAutoSchema()

    @extend_schema(
        operation_id="buyer_consultations_list",
        summary="Mes consultations",
        parameters=[PageParamsSerializer],
        responses={200: ConsultationPageSerializer, **PAGE_ERRORS, **BUYER_ERRORS},
        tags=BUYER_TAGS,
    )
    def get(self, request):
        validated(PageParamsSerializer(data=request.query_params))
        queryset = for_list(Consultation.objects.managed_by(request.user)).order_by("-created_at", "-pk")
        paginator = ConsultationPagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(ConsultationListItemSerializer(page, many=True).data)

    @extend_schema(
        operation_id="buyer_consultations_create",
        summary="Créer une consultation (brouillon)",
        description="Avec ses lots et sa commission, le tout enregistré ou rien.",
        request=ConsultationCreateSerializer,
        responses={
            201: BuyerConsultationDetailSerializer,
            400: ErrorSerializer,
            404: OpenApiResponse(
                ErrorSerializer, description="Acheteur (champ buyer) hors de vos acheteurs."
            ),
            409: OpenApiResponse(ErrorSerializer, description="Référence déjà prise chez cet acheteur."),
            **BUYER_ERRORS,
        },
        tags=BUYER_TAGS,
    )
    def post(self, request):
        data = validated(ConsultationCreateSerializer(data=request.data))
        buyer = _buyer_for_creation(request.user, data.get("buyer"))
        _reference_free(buyer, data["reference"])
        with transaction.atomic():
            consultation = services.consultation_create(
                buyer=buyer,
                created_by=request.user,
                cpv_additional=data.get("cpv_additional", ()),
                **_consultation_fields(data),
            )
            _apply_lots_and_commission(consultation, request.user, data)
        return Response(_buyer_detail(request, consultation.pk), status=status.HTTP_201_CREATED)


class BuyerConsultationDetailView(APIView):
    permission_classes = BUYER_PERMISSIONS

    @extend_schema(
        operation_id="buyer_consultations_retrieve",
        summary="Une de mes consultations",
        responses={200: BuyerConsultationDetailSerializer, 404: ErrorSerializer, **BUYER_ERRORS},
        tags=BUYER_TAGS,
    )
    def get(self, request, pk: int):
        consultation = _managed(request, pk, for_buyer_detail(Consultation.objects.managed_by(request.user)))
        return Response(BuyerConsultationDetailSerializer(consultation).data)

    @extend_schema(
        operation_id="buyer_consultations_update",
        summary="Modifier un brouillon",
        description="Seuls les champs envoyés changent ; `lots` et `commission` remplacent l'existant. "
        "Une consultation publiée ne se modifie plus, et une référence déjà prise chez l'acheteur "
        "ne se reprend pas (409).",
        request=ConsultationFieldsSerializer,
        responses={
            200: BuyerConsultationDetailSerializer,
            400: ErrorSerializer,
            404: ErrorSerializer,
            409: ErrorSerializer,
            **BUYER_ERRORS,
        },
        tags=BUYER_TAGS,
    )
    def patch(self, request, pk: int):
        consultation = _managed(request, pk)
        data = validated(ConsultationFieldsSerializer(data=request.data, partial=True))
        if "reference" in data:
            _reference_free(consultation.buyer, data["reference"], exclude=consultation.pk)
        with transaction.atomic():
            consultation = services.consultation_update(
                consultation=consultation,
                updated_by=request.user,
                cpv_additional=data.get("cpv_additional"),
                **_consultation_fields(data),
            )
            _apply_lots_and_commission(consultation, request.user, data)
        return Response(_buyer_detail(request, consultation.pk))


class BuyerConsultationDocumentsView(APIView):
    permission_classes = BUYER_PERMISSIONS
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="buyer_consultations_documents_add",
        summary="Ajouter des documents au DCE",
        description="En multipart/form-data : le champ `files` répété, et `folder` (facultatif). Un zip "
        "est décompressé avec son arborescence. Chaque fichier passe à l'antivirus ; si l'un est "
        "infecté, rien n'est importé. Sur une consultation publiée, les fichiers vont dans une "
        "nouvelle version du DCE, publiée par un avis rectificatif.",
        request={"multipart/form-data": DceUploadSerializer},
        responses={
            201: DceUploadResultSerializer,
            400: ErrorSerializer,
            404: ErrorSerializer,
            409: ErrorSerializer,
            **BUYER_ERRORS,
        },
        tags=BUYER_TAGS,
    )
    def post(self, request, pk: int):
        consultation = _managed(request, pk)
        uploads = request.FILES.getlist("files")
        if not uploads:
            message = "Choisissez au moins un fichier (champ files)."
            raise ApplicationError(message, code="validation", details={"files": [message]})
        created = services.dce_add_files(
            consultation=consultation,
            added_by=request.user,
            uploads=[(upload.name, upload) for upload in uploads],
            folder=request.data.get("folder", ""),
        )
        version = created[0].version.number
        data = DceUploadResultSerializer({"version": version, "files": created}).data
        return Response(data, status=status.HTTP_201_CREATED)


class BuyerConsultationPublishView(APIView):
    permission_classes = BUYER_PERMISSIONS

    @extend_schema(
        operation_id="buyer_consultations_publish",
        summary="Publier un brouillon",
        description="Vérifie les règles en vigueur (seuils, délais, commission, DCE). En cas de refus, "
        "`details` donne le message de chaque règle non respectée, par code de règle.",
        request=None,
        responses={
            200: BuyerConsultationDetailSerializer,
            400: OpenApiResponse(ErrorSerializer, description="Publication refusée"),
            404: ErrorSerializer,
            409: ErrorSerializer,
            **BUYER_ERRORS,
        },
        tags=BUYER_TAGS,
    )
    def post(self, request, pk: int):
        consultation = _managed(request, pk)
        services.consultation_publish(consultation=consultation, published_by=request.user)
        return Response(_buyer_detail(request, consultation.pk))
