from django.urls import path

from . import views

app_name = "preuves"

# Stable public URLs, documented in docs/verifier.md: change none of them.
urlpatterns = [
    path("", views.index, name="index"),
    path("verifier/", views.verify_page, name="verify"),
    path("tsa", views.tsa_endpoint, name="tsa"),
    path("tsa/ca.pem", views.tsa_ca, name="tsa_ca"),
    path("log/checkpoint", views.log_checkpoint, name="log_checkpoint"),
    path("log/leaves", views.log_leaves, name="log_leaves"),
    path("log/inclusion", views.log_inclusion, name="log_inclusion"),
    path("log/consistency", views.log_consistency, name="log_consistency"),
    path("log/key.pem", views.log_key, name="log_key"),
    path("log/cosignatures", views.log_cosignatures, name="log_cosignatures"),
    path("temoin/add-checkpoint", views.witness_add_checkpoint, name="witness_add_checkpoint"),
]
