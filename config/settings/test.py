"""Test settings: the suite runs on SQLite by default and on PostgreSQL + Redis in CI."""

import os
import tempfile
from pathlib import Path

from .base import *  # noqa: F403
from .base import env

DEBUG = False
DEMO_ALLOWED = True
SECRET_KEY = "test-only-not-secret-0c8a71e4b2d94f6a9e3b"  # noqa: S105
ALLOWED_HOSTS = ["*"]
# Argon2 is the real hasher; the suite uses a fast one so hundreds of logins stay quick.
# tests/comptes/test_passwords.py checks that the production hasher list starts with Argon2.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# A server process started by a test is handed the test's storage through PROFIL_TEST_MEDIA_ROOT.
MEDIA_ROOT = os.environ.get("PROFIL_TEST_MEDIA_ROOT") or tempfile.mkdtemp(prefix="profil-test-media-")
# Key material of the proofs (CA, TSA, seal, log key): generated once per test run, never a
# developer's (their .env may name PREUVES_KEY_DIR). A worker started by a test is handed the
# run's folder through PREUVES_TEST_KEY_DIR.
PREUVES_KEY_DIR = Path(os.environ.get("PREUVES_TEST_KEY_DIR") or tempfile.mkdtemp(prefix="profil-test-cles-"))
TSA_URL = ""
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT},
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# The test process itself always runs tasks eagerly; tests/test_celery_worker.py starts a
# real worker against the broker named by CELERY_BROKER_URL.
CELERY_TASK_ALWAYS_EAGER = True
LANGUAGE_CODE = "fr"
LOGGING = {"version": 1, "disable_existing_loggers": False}
SITE_URL = env("SITE_URL", default="http://testserver")
# Static files come from the apps' folders (runserver, live_server): no collectstatic here.
MIDDLEWARE = [m for m in MIDDLEWARE if m != "whitenoise.middleware.WhiteNoiseMiddleware"]
# A file, not memory, for SQLite: a Celery worker process can then share the test database.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # One file per test run, so two runs side by side never share it.
    DATABASES["default"]["TEST"] = {
        "NAME": str(Path(tempfile.gettempdir()) / f"profil-test-{os.getpid()}.sqlite3")
    }
# No antivirus unless a test asks for the real clamd (fixture `clamav`, tests/clamav.py): a
# developer's .env must not change what the suite sees.
CLAMD_URL = ""
# Argon2id of ceremony passphrases at its cheapest: the derivation is the same code, only
# slower in production (comptes/ceremony.py).
CEREMONY_ARGON2 = {"time_cost": 1, "memory_cost": 8, "parallelism": 1}
