from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from . import errors, marches, offres, views

app_name = "api"

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script at ?script, not inline: the page keeps the
    # strict Content-Security-Policy (templates/drf_spectacular/swagger_ui.html).
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="api:schema"), name="docs"),
    path("v1/me/", views.MeView.as_view(), name="me"),
    path("v1/consultations/", marches.ConsultationListView.as_view(), name="consultations"),
    path("v1/consultations/<int:pk>/", marches.ConsultationDetailView.as_view(), name="consultation"),
    path(
        "v1/consultations/<int:pk>/documents/",
        marches.ConsultationDocumentsView.as_view(),
        name="consultation_documents",
    ),
    path("v1/buyer/consultations/", marches.BuyerConsultationListView.as_view(), name="buyer_consultations"),
    path(
        "v1/buyer/consultations/<int:pk>/",
        marches.BuyerConsultationDetailView.as_view(),
        name="buyer_consultation",
    ),
    path(
        "v1/buyer/consultations/<int:pk>/documents/",
        marches.BuyerConsultationDocumentsView.as_view(),
        name="buyer_consultation_documents",
    ),
    path(
        "v1/buyer/consultations/<int:pk>/publish/",
        marches.BuyerConsultationPublishView.as_view(),
        name="buyer_consultation_publish",
    ),
    path("v1/depots/", offres.DepositListView.as_view(), name="deposits"),
    path("v1/depots/<uuid:public_id>/", offres.DepositDetailView.as_view(), name="deposit"),
    path("v1/depots/<uuid:public_id>/fichiers/", offres.DepositFilesView.as_view(), name="deposit_files"),
    path(
        "v1/depots/<uuid:public_id>/fichiers/<int:file_id>",
        offres.DepositFileView.as_view(),
        name="deposit_file",
    ),
    path(
        "v1/depots/<uuid:public_id>/fichiers/<int:file_id>/contenu",
        offres.DepositFileContentView.as_view(),
        name="deposit_file_content",
    ),
    path("v1/depots/<uuid:public_id>/valider", offres.DepositFinaliseView.as_view(), name="deposit_finalise"),
    path(
        "v1/depots/<uuid:public_id>/abandonner", offres.DepositAbandonView.as_view(), name="deposit_abandon"
    ),
    path("v1/depots/<uuid:public_id>/preuve", offres.DepositProofView.as_view(), name="deposit_proof"),
    path(
        "v1/depots/<uuid:public_id>/bordereau.json",
        offres.DepositManifestView.as_view(),
        name="deposit_manifest",
    ),
    path(
        "v1/depots/<uuid:public_id>/accuse.pdf",
        offres.DepositReceiptPdfView.as_view(),
        name="deposit_receipt",
    ),
    # CSRF-exempt like every API view (DRF's APIView is): a POST to an unknown URL is a JSON
    # 404, not Django's HTML CSRF page. It reads nothing and changes nothing.
    re_path(r"^.*$", csrf_exempt(errors.not_found_json)),
]
