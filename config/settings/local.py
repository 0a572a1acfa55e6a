"""Embedded default: `make run` on a laptop. SQLite, local files, eager tasks, console mail."""

from .base import *  # noqa: F403
from .base import env

DEBUG = env.bool("DEBUG", default=True)
DEMO_ALLOWED = True
SECRET_KEY = env("SECRET_KEY", default="local-only-not-secret-5b1c9f0e7d3a4e2b8c6f")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
# Static files are served from the apps' folders by runserver: no collectstatic needed.
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
MIDDLEWARE = [m for m in MIDDLEWARE if m != "whitenoise.middleware.WhiteNoiseMiddleware"]
