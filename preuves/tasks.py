from celery import shared_task

from . import journal


@shared_task(name="preuves.tasks.journal_verify")
def journal_verify() -> dict:
    """Walk the journal's chain; scheduled nightly (config/celery.py)."""
    result = journal.verify()
    return {"ok": result.ok, "count": result.count, "error": result.error}
