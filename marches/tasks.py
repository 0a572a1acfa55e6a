"""Tasks take ids, fetch, and call a service (STYLE.md §7). Scheduled in config/celery.py."""

from celery import shared_task


@shared_task(name="marches.tasks.close_expired")
def close_expired() -> int:
    """Record the closing of consultations whose deadline has passed."""
    from .services import consultations_close_expired

    return consultations_close_expired()


@shared_task(name="marches.tasks.notify_dce_change")
def notify_dce_change(version_id: int) -> int:
    """Tell everyone in the download register that a new version of the DCE is out."""
    from .notifications import dce_change_notify

    return dce_change_notify(version_id=version_id)
