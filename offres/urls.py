from django.urls import path

from . import views

app_name = "offres"

urlpatterns = [
    path("acheteur/<int:pk>/registre-des-depots/", views.deposit_register, name="deposit_register"),
    path(
        "acheteur/<int:pk>/registre-des-depots.csv", views.deposit_register_csv, name="deposit_register_csv"
    ),
    path("acheteur/<int:pk>/copies-de-sauvegarde/", views.backup_copies, name="backup_copies"),
]
