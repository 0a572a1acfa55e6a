"""What every benchmark sets before Django starts: the embedded settings, made
production-like where it matters for timings."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def configure_environment() -> None:
    """DEBUG off (no query log, no debug pages), persistent connections as in production,
    eager Celery (nothing to enqueue), quiet logs, scratch media and key folders."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    os.environ["DEBUG"] = "False"
    os.environ["CELERY_BROKER_URL"] = ""
    os.environ.pop("CELERY_RESULT_BACKEND", None)
    os.environ["CONN_MAX_AGE"] = "60"
    os.environ["ALLOWED_HOSTS"] = "testserver,127.0.0.1,localhost"
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    # Only when not given: setdefault's argument would create an empty folder every run.
    for variable, prefix in (
        ("MEDIA_ROOT", "profil-bench-media-"),
        ("PREUVES_KEY_DIR", "profil-bench-cles-"),
    ):
        if variable not in os.environ:
            os.environ[variable] = tempfile.mkdtemp(prefix=prefix)


def ensure_database() -> None:
    """The PostgreSQL database named by DATABASE_URL, created if missing, then migrated."""
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    with psycopg.connect(
        host=db["HOST"] or "127.0.0.1",
        port=db["PORT"] or 5432,
        user=db["USER"],
        dbname="postgres",
        autocommit=True,
    ) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [db["NAME"]]).fetchone():
            conn.execute(f'CREATE DATABASE "{db["NAME"]}"')
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
