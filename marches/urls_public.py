from django.urls import path

from .feeds import LatestConsultationsFeed
from .views import public

urlpatterns = [
    path("", public.search, name="search"),
    path("flux.atom", LatestConsultationsFeed(), name="feed"),
    path("<int:pk>/", public.detail, name="detail"),
    path("<int:pk>/retrait/", public.download_identify, name="download_identify"),
    path("<int:pk>/dce/<int:file_pk>/", public.file_download, name="file_download"),
    path("<int:pk>/dce/v<int:version>.zip", public.zip_download, name="zip_download"),
]
