from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext as _

from .models import Membership, Organisation


def platform(request) -> dict:
    """Platform identity for the DSFR shell, and the navigation the user's roles open."""
    user = getattr(request, "user", None)
    nav = [
        {"label": _("Accueil"), "url": reverse("home")},
        {"label": _("Consultations"), "url": reverse("marches:search")},
        {"label": _("Preuves"), "url": reverse("preuves:index")},
    ]
    memberships = []
    if user is not None and user.is_authenticated:
        memberships = list(
            Membership.objects.filter(user=user).select_related("organisation").order_by("organisation__name")
        )
        if any(m.role in Membership.BUYER_STAFF_ROLES for m in memberships):
            nav.append({"label": _("Mes consultations"), "url": reverse("marches:buyer_list")})
        if any(m.organisation.kind == Organisation.Kind.COMPANY for m in memberships):
            nav.append({"label": _("Mes plis"), "url": reverse("offres:deposit_list")})
        nav.extend(
            {"label": m.organisation.name, "url": reverse("comptes:organisation", args=[m.organisation_id])}
            for m in memberships
        )
        nav.append({"label": _("Mon compte"), "url": reverse("comptes:account")})
        if user.is_staff:
            nav.append({"label": _("Administration"), "url": reverse("admin:index")})
    path = request.path if request is not None else ""
    for item in nav:
        item["current"] = item["url"] == path
    return {
        "PLATFORM_NAME": settings.PLATFORM_NAME,
        "SITE_CONFIG": {
            "site_title": settings.PLATFORM_NAME,
            "site_tagline": settings.PLATFORM_TAGLINE,
            "footer_description": _(
                "Plateforme libre de dématérialisation des marchés publics : consultations, "
                "dépôts chiffrés dans le navigateur, preuves de dépôt vérifiables."
            ),
        },
        "main_nav": nav,
        "user_memberships": memberships,
    }
