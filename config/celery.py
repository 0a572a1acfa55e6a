"""The Celery application. Periodic tasks are declared here, in one place."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")

app = Celery("profil")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    "journal-verify-nightly": {
        "task": "preuves.tasks.journal_verify",
        "schedule": 60 * 60 * 24,
    },
    # The transparency log: a checkpoint whenever the tree grew (appends also ask for one),
    # and the journal's head anchored in it, so that rewriting the journal shows publicly.
    "log-checkpoint": {
        "task": "preuves.tasks.log_checkpoint",
        "schedule": 60,
    },
    "journal-anchor": {
        "task": "preuves.tasks.journal_anchor",
        "schedule": 60 * 10,
    },
    # This platform as a witness of the logs of PREUVES_WITNESS_TARGETS (nothing when empty).
    "witness-logs": {
        "task": "preuves.tasks.witness_logs",
        "schedule": 60 * 5,
    },
    # The deadline already closes a consultation whenever its state is read; this records it.
    "consultations-close-expired": {
        "task": "marches.tasks.close_expired",
        "schedule": 60,
    },
    # Uploads never finalised, DEPOSITS_ABANDONED_AFTER_DAYS after the deadline: abandoned,
    # their stored chunks deleted, one journal entry each. Received deposits are never touched.
    "deposits-abandon-expired": {
        "task": "offres.tasks.deposits_abandon_expired",
        "schedule": 60 * 60,
    },
}
