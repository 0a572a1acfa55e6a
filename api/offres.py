"""Deposits through the API: open a deposit, announce its encrypted files, send each file's
chunks (resumable). Thin views over offres.deposits; a company user sees only the deposits
of their companies, anything else is a 404 (STYLE.md §3)."""

from __future__ import annotations

from django.db.models import Prefetch
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import BaseParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import ApplicationError
from marches.models import Consultation
from offres import commitments, deposits, receipts
from offres.models import Deposit, DepositFile

from .errors import ErrorSerializer
from .fields import SMALL_MAX, FileNameField, identifier
from .marches import validated
from .schema import RequiredBodyAutoSchema

TAGS = ["dépôts"]
ERRORS = {
    400: ErrorSerializer,
    401: ErrorSerializer,
    403: OpenApiResponse(
        ErrorSerializer, description="Jeton sans droit, ou compte d'aucune entreprise (code « company »)."
    ),
    404: ErrorSerializer,
    409: ErrorSerializer,
}
TOO_LARGE = OpenApiResponse(ErrorSerializer, description="Taille maximale dépassée (code « too_large »).")


class DepositOpenSerializer(serializers.Serializer):
    consultation = identifier(help_text="Identifiant de la consultation.")
    company = identifier(
        required=False, help_text="Votre entreprise (facultatif si vous n'appartenez qu'à une)."
    )
    lots = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=SMALL_MAX),
        required=False,
        default=list,
        help_text="Numéros des lots ; 404 si l'un n'est pas un lot de la consultation.",
    )


class DepositFileInputSerializer(serializers.Serializer):
    envelope = serializers.ChoiceField(choices=["application", "offer"], help_text="candidature ou offre")
    name = FileNameField(
        max_length=255,
        help_text="Nom du fichier, sans dossier : ni « / » ni « \\ », ni caractère de contrôle ou de "
        "direction d'écriture, ni nom réservé par Windows (CON, PRN, AUX, NUL, COM1…, LPT1…), au plus "
        "255 octets en UTF-8 ; deux noms d'une enveloppe ne diffèrent pas que par la casse.",
    )
    size = serializers.IntegerField(min_value=1, help_text="Taille du fichier chiffré (age), en octets.")


class DepositFileSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    envelope = serializers.CharField()
    name = serializers.CharField()
    size = serializers.IntegerField()
    received = serializers.IntegerField(help_text="Octets reçus : la position où reprendre l'envoi.")
    complete = serializers.BooleanField()
    sha256 = serializers.CharField(help_text="SHA-256 du fichier chiffré, une fois reçu en entier.")


class DepositSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    consultation = serializers.IntegerField(source="consultation_id")
    company = serializers.CharField(source="company.name")
    lots = serializers.SerializerMethodField()
    state = serializers.CharField(
        help_text="« uploading » (envoi en cours), « received » (reçu) ou « abandoned » (abandonné : "
        "ses morceaux sont effacés, il ne reçoit plus rien)."
    )
    started_at = serializers.DateTimeField()
    abandoned_at = serializers.DateTimeField(allow_null=True, help_text="Date de l'abandon, s'il y a lieu.")
    recipients = serializers.SerializerMethodField(help_text="Destinataires age publiés, par enveloppe.")
    files = DepositFileSerializer(many=True)

    def get_lots(self, deposit) -> list[int]:
        return sorted(lot.number for lot in deposit.lots.all())

    def get_recipients(self, deposit) -> dict[str, str]:
        return {key.envelope: key.recipient for key in deposit.consultation.opening_keys.all()}


def _visible(request):
    return Deposit.objects.of_company_member(request.user).select_related(
        "company", "consultation__buyer", "created_by", "timestamp"
    )


def _deposit(request, public_id) -> Deposit:
    deposit = (
        _visible(request)
        .prefetch_related(
            "lots", "consultation__opening_keys", Prefetch("files", DepositFile.objects.order_by("pk"))
        )
        .filter(public_id=public_id)
        .first()
    )
    if deposit is None:
        raise ApplicationError("Pli introuvable.", code="not_found", status=404)
    return deposit


class DepositListView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="deposits_open",
        summary="Commencer un dépôt",
        description="Commence un dépôt (un pli en cours d'envoi) pour une consultation et des lots. Les "
        "fichiers sont ensuite annoncés, puis envoyés chiffrés (age) par morceaux. Une entreprise a au plus "
        "DEPOSITS_UNFINISHED_MAX plis en cours d'envoi par consultation (3 par défaut) : au-delà, 429 (code "
        "« too_many_unfinished », `details.unfinished` donne leurs identifiants) ; validez-en un ou "
        "abandonnez-le.",
        request=DepositOpenSerializer,
        responses={
            201: DepositSerializer,
            **ERRORS,
            429: OpenApiResponse(
                ErrorSerializer,
                description="Trop de plis en cours d'envoi pour cette consultation (code "
                "« too_many_unfinished »), ou trop de dépôts de test ces dernières 24 heures (code "
                "« too_many_tests »).",
            ),
        },
        tags=TAGS,
    )
    def post(self, request):
        data = validated(DepositOpenSerializer(data=request.data))
        consultation = Consultation.objects.depositable().filter(pk=data["consultation"]).first()
        if consultation is None:
            raise ApplicationError("Consultation introuvable.", code="not_found", status=404)
        company = deposits.company_for(request.user, data.get("company"))
        lots = list(consultation.lots.filter(number__in=data["lots"]))
        if len(lots) != len(set(data["lots"])):
            # Like an unknown consultation: what the request names is not there.
            raise ApplicationError(
                "Un des lots demandés n'existe pas dans cette consultation.",
                code="not_found",
                status=404,
                details={"lots": ["Un des lots demandés n'existe pas dans cette consultation."]},
            )
        deposit = deposits.deposit_open(
            consultation=consultation, company=company, user=request.user, lots=lots
        )
        return Response(
            DepositSerializer(_deposit(request, deposit.public_id)).data, status=status.HTTP_201_CREATED
        )


class DepositDetailView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="deposits_get",
        summary="État d'un pli",
        responses={200: DepositSerializer, **ERRORS},
        tags=TAGS,
    )
    def get(self, request, public_id):
        return Response(DepositSerializer(_deposit(request, public_id)).data)


class DepositFilesView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="deposits_files_add",
        summary="Annoncer un fichier chiffré",
        description="413 si le pli dépasserait la taille maximale de la consultation (code « too_large »), "
        "ou si les plis en cours d'envoi de l'entreprise pour cette consultation annonceraient plus de "
        "DEPOSITS_UNFINISHED_BYTES_FACTOR fois cette taille (2 par défaut ; code « unfinished_too_large », "
        "`details` donne `announced`, `requested` et `limit` en octets). 409 si le pli est reçu ou "
        "abandonné.",
        request=DepositFileInputSerializer,
        responses={
            201: DepositFileSerializer,
            413: OpenApiResponse(
                ErrorSerializer,
                description="Taille maximale dépassée (code « too_large » ou « unfinished_too_large »).",
            ),
            **ERRORS,
        },
        tags=TAGS,
    )
    def post(self, request, public_id):
        deposit = _deposit(request, public_id)
        data = validated(DepositFileInputSerializer(data=request.data))
        created = deposits.file_add(deposit=deposit, user=request.user, **data)
        return Response(DepositFileSerializer(created).data, status=status.HTTP_201_CREATED)


class DepositFileView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="deposits_files_remove",
        summary="Retirer un fichier annoncé",
        description="Retire un fichier d'un pli en cours d'envoi, même envoyé en partie ou refusé : le "
        "fichier, ses morceaux et leurs octets stockés. Le pli peut ensuite être validé sans lui. 409 si le "
        "pli est déjà reçu (code « received ») ou abandonné (code « abandoned ») ; 404 pour un fichier d'un "
        "autre pli.",
        request=None,
        responses={204: OpenApiResponse(description="Fichier retiré."), **ERRORS},
        tags=TAGS,
    )
    def delete(self, request, public_id, file_id: int):
        deposits.file_remove(deposit=_deposit(request, public_id), file_id=file_id, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class DepositAbandonView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="deposits_abandon",
        summary="Abandonner un pli en cours d'envoi",
        description="Le pli passe à l'état « abandoned » : ses morceaux stockés sont effacés ; il reste dans "
        "la liste de vos plis, avec ses fichiers annoncés, et ne reçoit plus ni fichier, ni morceau, ni "
        "validation (409, code « abandoned »). Il ne compte plus parmi vos plis en cours d'envoi. Abandonner "
        "deux fois donne la même réponse. 409 si le pli est déjà reçu (code « received ») : un pli reçu est "
        "conservé.",
        request=None,
        responses={200: DepositSerializer, **ERRORS},
        tags=TAGS,
    )
    def post(self, request, public_id):
        deposit = deposits.deposit_abandon(deposit=_deposit(request, public_id), user=request.user)
        return Response(DepositSerializer(_deposit(request, deposit.public_id)).data)


class RawBodyParser(BaseParser):
    """The chunk's bytes stay in the request stream: the view streams them to storage."""

    media_type = "application/octet-stream"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream


class DepositFileContentView(APIView):
    permission_classes = [IsAuthenticated]
    parser_classes = [RawBodyParser]
    schema = RequiredBodyAutoSchema()

    def _file(self, request, public_id, file_id) -> DepositFile:
        deposit = _deposit(request, public_id)
        file = deposit.files.filter(pk=file_id).first()
        if file is None:
            raise ApplicationError("Fichier introuvable dans ce pli.", code="not_found", status=404)
        return file

    @extend_schema(
        operation_id="deposits_files_status",
        summary="Où reprendre l'envoi d'un fichier",
        responses={200: DepositFileSerializer, **ERRORS},
        tags=TAGS,
    )
    def get(self, request, public_id, file_id: int):
        return Response(DepositFileSerializer(self._file(request, public_id, file_id)).data)

    @extend_schema(
        operation_id="deposits_files_chunk",
        summary="Envoyer un morceau de fichier chiffré",
        description="Corps : les octets du morceau (application/octet-stream), à la position `offset`, qui "
        "doit être celle où s'arrêtent les octets déjà reçus. Le premier morceau contient l'en-tête age.",
        parameters=[
            OpenApiParameter(
                "offset",
                {"type": "integer", "minimum": 0},
                required=True,
                description="Position du morceau : le nombre d'octets déjà reçus (409 sinon).",
            )
        ],
        request={"application/octet-stream": {"type": "string", "format": "binary", "minLength": 1}},
        responses={
            200: DepositFileSerializer,
            413: TOO_LARGE,
            415: OpenApiResponse(ErrorSerializer, description="Le premier morceau n'est pas un fichier age."),
            **ERRORS,
        },
        tags=TAGS,
    )
    def put(self, request, public_id, file_id: int):
        file = self._file(request, public_id, file_id)
        raw_offset = request.query_params.get("offset", "")
        if not raw_offset.isascii() or not raw_offset.isdigit():
            raise ApplicationError(
                "Paramètre « offset » manquant ou invalide (entier positif).", code="validation"
            )
        try:
            length = int(request.headers.get("Content-Length") or 0)
        except ValueError:
            raise ApplicationError("En-tête Content-Length invalide.", code="validation") from None
        updated = deposits.chunk_receive(
            file=file, user=request.user, offset=int(raw_offset), stream=request.stream, length=length
        )
        if request.auth is None:
            # A browser upload in progress keeps its session alive: a large deposit on a slow
            # line must not be cut by the session's expiry halfway through.
            request.session.modified = True
        return Response(DepositFileSerializer(updated).data)


class MillisecondsDateTimeField(serializers.DateTimeField):
    """ISO 8601 with the milliseconds always written (« …T10:15:03.000+01:00 »), as the token
    dates them: DRF's default drops a zero fraction and writes microseconds otherwise."""

    def to_representation(self, value):
        return self.enforce_timezone(value).isoformat(timespec="milliseconds")


class ReceiptSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    state = serializers.CharField()
    received_at = serializers.DateTimeField()
    late = serializers.BooleanField(help_text="Reçu après la date limite : conservé, jamais ouvert.")
    digest = serializers.CharField(help_text="SHA-256 du bordereau (bordereau.json), horodaté et journalisé.")
    log_index = serializers.IntegerField()
    timestamp = MillisecondsDateTimeField(
        source="timestamp.gen_time",
        help_text="La date du jeton d'horodatage RFC 3161 (genTime), à la milliseconde, heure de Paris.",
    )
    mentions = serializers.SerializerMethodField(help_text="Les mentions de l'accusé de réception.")
    files = serializers.SerializerMethodField()
    commitment_opening = serializers.SerializerMethodField(
        help_text="L'ouverture de l'engagement que publie la feuille du journal de transparence : les "
        "faits du pli et l'aléa, que seul l'accusé de réception contient (docs/verifier.md)."
    )
    links = serializers.SerializerMethodField()

    def get_mentions(self, deposit) -> dict[str, str]:
        return dict(receipts.legal_fields(deposit))

    def get_commitment_opening(self, deposit) -> dict:
        return commitments.opening(deposit)

    def get_files(self, deposit) -> list[dict]:
        return deposit.manifest["files"]

    def get_links(self, deposit) -> dict[str, str]:
        base = f"/api/v1/depots/{deposit.public_id}"
        return {
            "receipt_pdf": f"{base}/accuse.pdf",
            "proof_bundle": f"{base}/preuve",
            "manifest": f"{base}/bordereau.json",
        }


def _received(request, public_id) -> Deposit:
    deposit = _deposit(request, public_id)
    if deposit.state != Deposit.State.RECEIVED:
        raise ApplicationError(
            "Ce pli n'est pas encore reçu : validez-le d'abord.", code="not_received", status=409
        )
    return deposit


class DepositFinaliseView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="deposits_finalise",
        summary="Valider l'envoi d'un pli",
        description="Tous les fichiers doivent être reçus en entier (409 sinon : retirez un fichier refusé "
        "avec « Retirer un fichier annoncé »). L'heure de réception est celle du serveur à cet instant. "
        "Appeler deux fois donne le même accusé de réception. 409 pour un pli abandonné (code "
        "« abandoned »).",
        request=None,
        responses={200: ReceiptSerializer, **ERRORS},
        tags=TAGS,
    )
    def post(self, request, public_id):
        deposit = deposits.deposit_finalise(deposit=_deposit(request, public_id), user=request.user)
        return Response(ReceiptSerializer(_deposit(request, deposit.public_id)).data)


class DepositProofView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="deposits_proof",
        summary="Paquet de preuve du pli",
        description="Le paquet que vérifie `python preuves/verifier.py` (docs/verifier.md).",
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
        tags=TAGS,
    )
    def get(self, request, public_id):
        return Response(receipts.bundle(_received(request, public_id)))


class DepositManifestView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="deposits_manifest",
        summary="Bordereau du pli (JSON canonique)",
        description="Les octets exacts dont le SHA-256 (`digest`) a été horodaté et journalisé.",
        responses={(200, "application/json"): OpenApiTypes.OBJECT, **ERRORS},
        tags=TAGS,
    )
    def get(self, request, public_id):
        deposit = _received(request, public_id)
        response = HttpResponse(deposits.manifest_bytes(deposit.manifest), content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="bordereau-{deposit.public_id}.json"'
        return response


class DepositReceiptPdfView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="deposits_receipt_pdf",
        summary="Accusé de réception scellé (PDF)",
        responses={(200, "application/pdf"): OpenApiTypes.BINARY, **ERRORS},
        tags=TAGS,
    )
    def get(self, request, public_id):
        deposit = _received(request, public_id)
        response = HttpResponse(receipts.receipt_pdf(deposit), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="accuse-{deposit.public_id}.pdf"'
        return response
