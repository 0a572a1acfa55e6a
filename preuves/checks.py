"""Deployment checks (`manage.py check --deploy`) for the proofs."""

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def external_tsa(app_configs, **kwargs):
    if settings.TSA_URL:
        return []
    return [
        Warning(
            "Les jetons d'horodatage sont émis par l'autorité embarquée : ils ne chaînent qu'à l'autorité "
            "de certification de la plateforme elle-même.",
            hint="En production, renseignez TSA_URL et TSA_CA_BUNDLE "
            "(prestataire d'horodatage qualifié eIDAS).",
            id="preuves.W001",
        )
    ]
