from django.shortcuts import render


def home(request):
    return render(request, "home.html")


def accessibility(request):
    return render(request, "pages/accessibilite.html")


def legal_notice(request):
    return render(request, "pages/mentions_legales.html")


def personal_data(request):
    return render(request, "pages/donnees_personnelles.html")


def sitemap(request):
    return render(request, "pages/plan_du_site.html")
