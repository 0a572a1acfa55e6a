from django.urls import path

from . import bidder_views, views

app_name = "offres"

urlpatterns = [
    path("consultation/<int:pk>/deposer/", bidder_views.deposit_new, name="deposit_new"),
    path("simulation/", bidder_views.simulation_page, name="simulation"),
    path("mes-plis/", bidder_views.deposit_list, name="deposit_list"),
    path("<uuid:public_id>/", bidder_views.deposit_detail, name="deposit_detail"),
    path("acheteur/<int:pk>/registre-des-depots/", views.deposit_register, name="deposit_register"),
    path(
        "acheteur/<int:pk>/registre-des-depots.csv", views.deposit_register_csv, name="deposit_register_csv"
    ),
    path("acheteur/<int:pk>/copies-de-sauvegarde/", views.backup_copies, name="backup_copies"),
    path("verifier-le-code-de-chiffrement/", views.encryption_code, name="encryption_code"),
]
