from django.shortcuts import render
from django.utils import timezone

from marches.models import Consultation

LATEST_ON_HOME = 10


def home(request):
    now = timezone.now()
    latest = (
        Consultation.objects.open_for_deposits(now)
        .select_related("buyer")
        .order_by("-published_at", "-pk")[:LATEST_ON_HOME]
    )
    return render(request, "home.html", {"latest_consultations": latest, "now": now})


def accessibility(request):
    return render(request, "pages/accessibilite.html")


def legal_notice(request):
    return render(request, "pages/mentions_legales.html")


def personal_data(request):
    return render(request, "pages/donnees_personnelles.html")


def sitemap(request):
    return render(request, "pages/plan_du_site.html")
