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
    os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="profil-bench-media-"))
    os.environ.setdefault("PREUVES_KEY_DIR", tempfile.mkdtemp(prefix="profil-bench-cles-"))
