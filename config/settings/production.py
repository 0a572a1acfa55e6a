"""Production: PostgreSQL, Redis + Celery workers, S3-compatible storage, behind gunicorn.

Refuses to start without SECRET_KEY and ALLOWED_HOSTS: env() raises ImproperlyConfigured.
"""

from pathlib import Path

from .base import *  # noqa: F403
from .base import env

DEBUG = False
SECRET_KEY = env("SECRET_KEY")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Behind a TLS-terminating proxy (nginx in docker/).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
# The keys never default to the code tree: PREUVES_KEY_DIR (the Docker stack's volume), or
# else the service user's XDG data folder.
_DATA_HOME = Path(env("XDG_DATA_HOME", default=str(Path.home() / ".local" / "share")))
PREUVES_KEY_DIR = Path(env("PREUVES_KEY_DIR", default=str(_DATA_HOME / "marches-ouverts" / "cles")))

# nginx (docker/) sets X-Forwarded-For to the address it saw: the journal and the login
# lockout use that one.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=1)
