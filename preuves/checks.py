"""Deployment checks (`manage.py check --deploy`) for the proofs."""

from django.conf import settings
from django.core.checks import Tags, Warning, register
from django.db import DatabaseError, connections

from . import database_roles


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
            id="preuves.W003",
        )
    ]


@register(Tags.database, Tags.security, deploy=True)
def database_role(app_configs, databases=None, **kwargs):
    """`check --deploy --database default` (docker/entrypoint.sh runs it before web, worker
    and beat start): the application must not connect as a role that could rewrite history."""
    found = []
    for alias in databases or ():
        connection = connections[alias]
        if connection.vendor != "postgresql":
            continue
        try:
            problems = database_roles.problems(connection)
        except DatabaseError as exc:
            found.append(
                Warning(
                    f"Rôle de la base « {alias} » invérifiable : {exc}",
                    id="preuves.W002",
                )
            )
            continue
        if problems:
            found.append(
                Warning(
                    f"L'application se connecte à la base « {alias} » avec un rôle qui peut réécrire "
                    f"l'historique : {' ; '.join(problem.message for problem in problems)}.",
                    hint="Migrez avec le rôle propriétaire, puis lancez « manage.py database_roles grant "
                    "RÔLE_D_EXÉCUTION » et faites se connecter web, worker et beat avec ce rôle "
                    "(docs/deploy.md, section « Database roles »).",
                    id="preuves.W002",
                )
            )
    return found
