from celery import shared_task

from . import anchoring, journal, log


@shared_task(name="preuves.tasks.journal_verify")
def journal_verify() -> dict:
    """Walk the journal's chain and its anchors; scheduled nightly (config/celery.py)."""
    result = journal.verify()
    anchors = anchoring.verify_anchors()
    return {
        "ok": result.ok and anchors.ok,
        "count": result.count,
        "anchors": anchors.count,
        "error": result.error or anchors.error,
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
