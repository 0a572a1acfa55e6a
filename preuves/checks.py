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


@register()
def witness_keys(app_configs, **kwargs):
    """Malformed witness or log keys are refused at start, not at the first cosignature."""
    from django.core.checks import Error

    from . import verifier

    errors = []
    for setting, parse in (
        ("PREUVES_WITNESSES", verifier.parse_witness_key),
        ("PREUVES_WITNESSED_LOGS", verifier.parse_log_vkey),
    ):
        for vkey in getattr(settings, setting):
            try:
                parse(vkey)
            except verifier.VerificationError as exc:
                errors.append(Error(f"{setting} : {exc}", id="preuves.E002"))
    return errors


@register(Tags.security, deploy=True)
def witnesses(app_configs, **kwargs):
    if settings.PREUVES_WITNESSES:
        return []
    return [
        Warning(
            "Aucun témoin ne contresigne les points de contrôle du journal de transparence : un exploitant "
            "détenant toutes les clés pourrait en réécrire l'historique sans contradiction extérieure "
            "autre que les reçus des soumissionnaires.",
            hint="Faites témoigner une autre instance (manage.py preuves witness) et déclarez sa clé dans "
            "PREUVES_WITNESSES (docs/verifier.md).",
            id="preuves.W002",
        )
    ]
