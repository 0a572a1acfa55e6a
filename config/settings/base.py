"""Settings shared by every environment.

Every integration is switched on by one environment variable (see `.env.example`):
the embedded default needs none of them.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env("SECRET_KEY", default="")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])

PLATFORM_NAME = env("PLATFORM_NAME", default="Marchés ouverts")
PLATFORM_TAGLINE = env(
    "PLATFORM_TAGLINE", default="Profil d'acheteur : consultations, dépôts scellés, preuves"
)
# Absolute base URL used in e-mails (links in verification and invitation messages).
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    # `manage.py demo`, above every app since it fills them all; first, so that its
    # `runserver` (a longer listen queue for the embedded default) overrides staticfiles'.
    "demo",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "dsfr",
    # After dsfr, so that django-dsfr's form templates take precedence over Django's.
    "django.forms",
    "widget_tweaks",
    "django_countries",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "preuves",
    "comptes",
    "marches",
    "offres",
    "api",
    # The DUME library; an app only for `manage.py dume` (the library imports no Django).
    "dume",
]

MIDDLEWARE = [
    # Content-Security-Policy (django-csp) on every response: first, so that the responses
    # of the middleware below it (WhiteNoise's static files, the HTTPS redirect) carry it too.
    "config.csp.CSPMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "comptes.middleware.TwoFactorRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a lockout into the French lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.debug",
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "comptes.context_processors.platform",
            ],
        },
    },
]
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"

# --- Database -------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))
# SQLite (the embedded default) takes parallel deposits: WAL lets readers go on beside the one
# writer, a writer waits for the lock (busy timeout, seconds) instead of failing with « database
# is locked », and every transaction takes the write lock at BEGIN (IMMEDIATE), so a read-then-
# write transaction never fails on upgrading its lock. IMMEDIATE is also what serialises the
# finalisations and the log's appends there, select_for_update() being a no-op on SQLite
# (tests/offres/test_sqlite_concurrency.py). synchronous=FULL, not WAL's usual NORMAL: a commit
# is on disk before its receipt is sent, so a power cut cannot forget a receipted deposit and
# hand its log index to another leaf.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": env.int("SQLITE_BUSY_TIMEOUT", default=30),
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Accounts and authentication ------------------------------------------------------
AUTH_USER_MODEL = "comptes.User"
AUTHENTICATION_BACKENDS = [
    # First, as django-axes requires: it refuses locked-out credentials before any check.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "comptes:login"
LOGIN_REDIRECT_URL = "comptes:account"
LOGOUT_REDIRECT_URL = "home"
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 8)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

# Login lockout (django-axes): five failures on one account lock it for fifteen minutes.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
# Locked per account, not per IP: the staff of a town hall share one address, and one
# mistyped password must not lock them all out. The rate limit per IP belongs to the proxy.
AXES_LOCKOUT_PARAMETERS = ["username"]
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_USERNAME_FORM_FIELD = "username"
# Failures counted under the address's normal form, the key the account is looked up with:
# every spelling of one address (case, ſ, Kelvin sign, fullwidth…) shares one counter.
AXES_USERNAME_CALLABLE = "comptes.emails.lockout_username"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "comptes.views.auth.lockout_response"
AXES_VERBOSE = False
AXES_CLIENT_IP_CALLABLE = "comptes.network.client_ip"
# Reverse proxies in front of the platform that append to X-Forwarded-For (nginx: 1).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
# `manage.py demo` creates accounts with published passwords: never on a real platform.
DEMO_ALLOWED = False

# Two-factor authentication (TOTP, RFC 6238).
TOTP_ISSUER = env("TOTP_ISSUER", default=PLATFORM_NAME)
TOTP_MAX_FAILURES = 5
TOTP_LOCK_MINUTES = 15
EMAIL_VERIFICATION_MAX_AGE = timedelta(days=3)
INVITATION_VALIDITY = timedelta(days=7)

# --- Internationalisation ---------------------------------------------------------------
LANGUAGE_CODE = "fr"
LANGUAGES = [("fr", _("Français")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Paris"
USE_I18N = True
USE_TZ = True

# --- Files ----------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(BASE_DIR / "var" / "media")))

STORAGE_BACKEND = env("STORAGE_BACKEND", default="local")
if STORAGE_BACKEND == "s3":
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env("AWS_STORAGE_BUCKET_NAME"),
            "endpoint_url": env("AWS_S3_ENDPOINT_URL", default=None),
            "region_name": env("AWS_S3_REGION_NAME", default=None),
            "access_key": env("AWS_ACCESS_KEY_ID", default=None),
            "secret_key": env("AWS_SECRET_ACCESS_KEY", default=None),
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
elif STORAGE_BACKEND == "local":
    _default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT},
    }
else:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("STORAGE_BACKEND doit valoir « local » ou « s3 ».")
STORAGES = {
    "default": _default_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Uploaded files: antivirus and archives -------------------------------------------
# ClamAV's daemon, `unix:///run/clamav/clamd.sock` or `tcp://clamd:3310` (marches/antivirus.py).
# Empty: files are accepted and shown as « non analysé ». Set: a file is refused while clamd
# does not answer within CLAMD_TIMEOUT seconds, never accepted unscanned.
CLAMD_URL = env("CLAMD_URL", default="")
CLAMD_TIMEOUT = env.int("CLAMD_TIMEOUT", default=60)
# Limits on a zip archive of tender documents (DCE), counted on the decompressed bytes
# (marches/archive.py): number of files, total size, compression ratio of each file.
DCE_MAX_FILES = env.int("DCE_MAX_FILES", default=1000)
DCE_MAX_TOTAL_BYTES = env.int("DCE_MAX_TOTAL_BYTES", default=1024**3)
DCE_MAX_COMPRESSION_RATIO = env.int("DCE_MAX_COMPRESSION_RATIO", default=100)

# --- E-mail ---------------------------------------------------------------------------
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env.bool("EMAIL_USE_SSL", default=False)
# A hung SMTP server must not hold a web worker until gunicorn kills it.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Marchés ouverts <ne-pas-repondre@localhost>")

# --- Celery ---------------------------------------------------------------------------
# No broker configured: tasks run eagerly in the calling process (embedded default).
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="")
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=CELERY_BROKER_URL or None)
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Periodic tasks are declared in one place: config/celery.py (beat_schedule).

# --- API ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.authentication.PersonalTokenAuthentication",
        "api.authentication.TwoFactorSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.JSONParser"],  # JSON with a nesting bound
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "API du profil d'acheteur",
    "DESCRIPTION": (
        "API publique de la plateforme. Authentification par session ou par jeton personnel "
        "(en-tête `Authorization: Bearer <jeton>`, créé depuis la page « Mon compte »). "
        'Toute erreur a la même forme : `{"error": {"code", "message", "details"}}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Content-Security-Policy (django-csp 4; config/csp.py, docs/chiffrement.md) ---------
# Strict on every page, the deposit page that encrypts the bid first: no inline script or
# style, no eval, nothing from another origin, on every page (the API's Swagger UI too: its
# start-up script and style are files, api/urls.py). `data:` images only, for the icons that
# the DSFR's and Swagger UI's style sheets embed (url("data:image/svg+xml…")): an image runs
# no code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "report-uri": ["/csp/rapport"],
        "report-to": "csp",
    },
}

# --- Logging --------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}

ADMIN_URL = env("ADMIN_URL", default="gestion/")

# DSFR: mark the optional fields, not the required ones (the design system's current rule).
DSFR_MARK_OPTIONAL_FIELDS = True

# --- Consultations (marches) -----------------------------------------------------------------
# The dematerialisation threshold is no setting: it is the law's, a dated rule in
# marches/rules.py (€40,000 excl. VAT since 2020-01-01), read by the form and the check alike.
# Largest deposit a buyer may allow, and the size proposed by default (bytes).
DEPOSIT_MAX_BYTES_LIMIT = env.int("DEPOSIT_MAX_BYTES_LIMIT", default=2 * 1024**3)
DEPOSIT_MAX_BYTES_DEFAULT = env.int("DEPOSIT_MAX_BYTES_DEFAULT", default=500 * 1024**2)
# The permanent test consultation (« simuler un dépôt »): its buyer is the platform, whose
# SIRET an operator may give (fourteen zeros, visibly no real body, by default).
TEST_CONSULTATION_SIRET = env("TEST_CONSULTATION_SIRET", default="00000000000000")
TEST_CONSULTATION_MAX_BYTES = env.int("TEST_CONSULTATION_MAX_BYTES", default=DEPOSIT_MAX_BYTES_DEFAULT)
TEST_DEPOSITS_PER_DAY = env.int("TEST_DEPOSITS_PER_DAY", default=20)
# Deposits in progress (« envoi en cours »), per company and consultation: how many at once,
# and how many bytes announced across them, as a multiple of the consultation's maximum
# deposit size; beyond, 429 / 413 (offres/deposits.py). Received and abandoned ones do not count.
DEPOSITS_UNFINISHED_MAX = env.int("DEPOSITS_UNFINISHED_MAX", default=3)
DEPOSITS_UNFINISHED_BYTES_FACTOR = env.int("DEPOSITS_UNFINISHED_BYTES_FACTOR", default=2)
# An upload never finalised is abandoned, its stored chunks deleted, this many days after the
# consultation's deadline (and after its own start): offres.tasks.deposits_abandon_expired.
DEPOSITS_ABANDONED_AFTER_DAYS = env.int("DEPOSITS_ABANDONED_AFTER_DAYS", default=7)

# --- Proofs (preuves) -------------------------------------------------------------------
# The platform's own key material, generated on first use and reused afterwards: the local
# certification authority, the embedded TSA's certificate, the PDF seal certificate and the
# transparency log's Ed25519 key (preuves/keys.py). Embedded default: the checkout's ignored
# var/cles, its own for each clone and gone with `make clean`; production sets its own
# (production.py), a persistent volume readable by the web and worker processes only.
PREUVES_KEY_DIR = Path(env("PREUVES_KEY_DIR", default=str(BASE_DIR / "var" / "cles")))
# RFC 3161 time-stamping authority. Empty: the embedded TSA answers in-process (and at
# POST /preuves/tsa). Set: an external (qualified eIDAS) TSA over HTTP, whose tokens must
# chain to a certificate of TSA_CA_BUNDLE (PEM). Either way every token is verified first.
TSA_URL = env("TSA_URL", default="")
TSA_CA_BUNDLE = env("TSA_CA_BUNDLE", default="")
TSA_USERNAME = env("TSA_USERNAME", default="")
TSA_PASSWORD = env("TSA_PASSWORD", default="")
TSA_TIMEOUT = env.int("TSA_TIMEOUT", default=10)
# The policy under which the embedded TSA issues tokens, and which every token received must
# carry (empty: any policy). The default is a UUID-based OID (ITU-T X.667, arc 2.25) minted
# for this platform; with an external TSA, set it to that TSA's policy.
TSA_POLICY_OID = env("TSA_POLICY_OID", default="2.25.146584808248700635410071333264935791086")
# The transparency log's origin line (C2SP checkpoint): names this log in every signed head.
PREUVES_LOG_ORIGIN = env("PREUVES_LOG_ORIGIN", default=SITE_URL.split("://", 1)[-1] + "/preuves/log")
# Largest leaf range served by GET /preuves/log/leaves.
PREUVES_LOG_MAX_LEAVES = 1000
# Witnesses (C2SP tlog-witness / tlog-cosignature). PREUVES_WITNESSES: the cosigners whose
# cosignatures of this log's checkpoints the platform accepts and publishes, as C2SP vkeys
# `name+keyid+base64` separated by commas. PREUVES_WITNESS_NAME: this platform's own name when
# it witnesses other logs; PREUVES_WITNESSED_LOGS: the logs it witnesses, as their checkpoint
# vkeys (`origin+keyid+base64(0x01 || key)`), comma-separated.
PREUVES_WITNESSES = env.list("PREUVES_WITNESSES", default=[])
_WITNESS_NAME = PREUVES_LOG_ORIGIN.removesuffix("/log") + "/temoin"
PREUVES_WITNESS_NAME = env("PREUVES_WITNESS_NAME", default=_WITNESS_NAME)
PREUVES_WITNESSED_LOGS = env.list("PREUVES_WITNESSED_LOGS", default=[])
# The logs this platform witnesses every five minutes (Celery beat), by their base URL.
PREUVES_WITNESS_TARGETS = env.list("PREUVES_WITNESS_TARGETS", default=[])
# Optional seal certificate for PDFs (a qualified seal in production): PEM files. Empty: a
# seal certificate issued by the local authority of PREUVES_KEY_DIR.
PDF_SEAL_CERT_FILE = env("PDF_SEAL_CERT_FILE", default="")
PDF_SEAL_KEY_FILE = env("PDF_SEAL_KEY_FILE", default="")
PDF_SEAL_CHAIN_FILE = env("PDF_SEAL_CHAIN_FILE", default="")

# --- Sealed deposits (offres) ------------------------------------------------------------
# A commission member's ceremony passphrase is stretched with Argon2id into the key that
# opens their shares (comptes/ceremony.py): RFC 9106's second recommended option (64 MiB).
CEREMONY_ARGON2 = {"time_cost": 3, "memory_cost": 64 * 1024, "parallelism": 4}
CEREMONY_PASSPHRASE_MIN_LENGTH = 16
# Largest chunk of an encrypted file accepted in one request (offres/deposits.py): the browser
# sends 4 MiB (offres/bidder_views.py), so that its progress moves every few seconds on a
# small uplink; each chunk is one object of the storage (one PUT on S3, multipart above 8 MiB).
DEPOSIT_CHUNK_MAX_BYTES = env.int("DEPOSIT_CHUNK_MAX_BYTES", default=16 * 1024 * 1024)
