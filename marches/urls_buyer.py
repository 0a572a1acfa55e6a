"""The buyer's back office, mounted at /consultations/acheteur/ (URL names are shared with the
other parts of the application: do not rename them)."""

from django.urls import path

from .views import buyer

urlpatterns = [
    path("", buyer.buyer_list, name="buyer_list"),
    path("nouvelle/", buyer.buyer_create, name="buyer_create"),
    path("cpv/", buyer.cpv_search, name="cpv_search"),
    path("<int:pk>/", buyer.buyer_detail, name="buyer_detail"),
    path("<int:pk>/modifier/", buyer.buyer_edit, name="buyer_edit"),
    path("<int:pk>/lots/", buyer.buyer_lots, name="buyer_lots"),
    path("<int:pk>/commission/", buyer.buyer_commission, name="buyer_commission"),
    path("<int:pk>/dce/", buyer.buyer_dce, name="buyer_dce"),
    path("<int:pk>/dce/<int:file_pk>/retirer/", buyer.buyer_dce_remove, name="buyer_dce_remove"),
    path("<int:pk>/publier/", buyer.buyer_publish, name="buyer_publish"),
    path(
        "<int:pk>/publier/sans-analyse-antivirus/",
        buyer.buyer_dce_accept_unscanned,
        name="buyer_dce_accept_unscanned",
    ),
    path("<int:pk>/avis-rectificatif/", buyer.buyer_amend, name="buyer_amend"),
    path("<int:pk>/registre-des-retraits/", buyer.buyer_register, name="buyer_register"),
    path("<int:pk>/registre-des-retraits.csv", buyer.buyer_register_csv, name="buyer_register_csv"),
    path("<int:pk>/decision/", buyer.buyer_declare, name="buyer_declare"),
]
