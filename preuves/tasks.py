import logging

from celery import shared_task
from django.conf import settings

from config.errors import ApplicationError

from . import anchoring, audit, log, witness

logger = logging.getLogger(__name__)


@shared_task(name="preuves.tasks.journal_verify")
def journal_verify() -> dict:
    """The full verification (preuves/audit.py): the journal's chain, the log recomputed,
    every checkpoint and anchor; scheduled nightly (config/celery.py). A failure is logged
    as an error, for the operator's alerting."""
    report = audit.verify_all()
    if not report.ok:
        logger.error("Vérification des preuves en échec : %s", " ; ".join(report.problems))
    return {
        "ok": report.ok,
        "count": report.entries,
        "anchors": report.anchors,
        "leaves": report.leaves,
        "error": " ; ".join(report.problems),
    }


@shared_task(name="preuves.tasks.journal_anchor")
def journal_anchor() -> dict:
    """Append the journal's head to the transparency log (config/celery.py)."""
    leaf = anchoring.anchor_journal()
    return {"index": leaf.index if leaf else None}


@shared_task(name="preuves.tasks.log_checkpoint")
def log_checkpoint() -> dict:
    """Sign and timestamp the tree head if it grew since the last checkpoint."""
    point = log.checkpoint()
    return {"size": point.size}


@shared_task(name="preuves.tasks.witness_logs")
def witness_logs() -> dict:
    """This platform as a witness: cosign the latest checkpoint of every log of
    PREUVES_WITNESS_TARGETS (config/celery.py). A refusal (a fork) is logged as an error."""
    outcomes = {}
    for base_url in settings.PREUVES_WITNESS_TARGETS:
        try:
            outcome = witness.witness_log(base_url)
        except ApplicationError as exc:
            logger.error("Témoin : %s refusé : %s", base_url, exc.message)
            outcomes[base_url] = {"ok": False, "error": exc.message}
            continue
        outcomes[base_url] = {"ok": not outcome.refusal, "size": outcome.size, "error": outcome.refusal}
    return outcomes
