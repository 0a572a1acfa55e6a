from django.urls import include, path

app_name = "marches"

urlpatterns = [
    path("acheteur/", include("marches.urls_buyer")),
    path("", include("marches.urls_public")),
]
