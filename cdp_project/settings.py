"""Settings for the CDP. Every value comes from the environment (see `.env.example`)."""

from __future__ import annotations

import hmac
import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import environ
from celery.schedules import crontab
from kombu import Exchange, Queue

from cdp_project.core.secret_key import is_local_install, secret_key_choose
from cdp_project.devtools.embedded import (
    FILESYSTEM_BROKER_URL,
    embedded_database_url,
    filesystem_broker_options,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("CDP_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
# Unset on a local install (DEBUG, or loopback ALLOWED_HOSTS): a random key made once and
# kept in var/secret_key. Production refuses to start without one (cdp_project/core/secret_key.py).
SECRET_KEY = secret_key_choose(
    configured=env.str("SECRET_KEY", default=""),
    local=is_local_install(debug=DEBUG, allowed_hosts=ALLOWED_HOSTS),
    var_dir=VAR_DIR,
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "anymail",
    "cdp_project",
    "cdp_project.access",
    "ingestion",
    "profiles",
    "segments",
    "campaigns",
    "cdp_project.devtools",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "cdp_project.access.roles.ReadOnlyMarketerMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
]

ROOT_URLCONF = "cdp_project.urls"
WSGI_APPLICATION = "cdp_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "cdp_project.devtools.storefront.storefront_link",
                "cdp_project.access.roles.can_change",
            ],
        },
    }
]

# --- Database ---------------------------------------------------------------------------
# With no DATABASE_URL the project uses the embedded PostgreSQL under var/pgdata (development
# and tests), whose Unix socket is in that folder; a socket URL names its folder URL-encoded
# as the host. Settings only name it: `make run`, `make bench`, `simulate_store` and the test
# suite start it (cdp_project/devtools/embedded.py), so `manage.py check`, ruff and mypy
# start nothing. Other commands reach it while `make run` runs.
DATABASE_URL = env.str("DATABASE_URL", default="") or embedded_database_url(VAR_DIR)
_database = env.db_url_config(DATABASE_URL)
_database["HOST"] = unquote(_database.get("HOST") or "")
_database["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
_database["CONN_HEALTH_CHECKS"] = True
_database.setdefault("OPTIONS", {})["connect_timeout"] = env.int("DATABASE_CONNECT_TIMEOUT", 5)
# The statements ingest runs on every request are prepared once per connection
# (cdp_project/core/prepared.py); Django's own queries never are. Behind a pooler that cannot
# keep prepared statements (PgBouncer before 1.21 in transaction mode), set this to false.
_database["OPTIONS"]["prepare_threshold"] = (
    5 if env.bool("DATABASE_PREPARED_STATEMENTS", default=True) else None
)
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# The web server `make run` starts (gunicorn, gthread workers). Processes run Python in
# parallel where threads of one process share its interpreter lock: on two cores, four
# processes of two threads ingest about a tenth more than two of four, with as many
# database connections (processes times threads).
WEB_WORKERS = env.int("WEB_WORKERS", default=4)
WEB_THREADS = env.int("WEB_THREADS", default=2)

# Failed logins per user name and address before a lockout, and how long it lasts after the
# last failure (cdp_project/access/throttle.py). Counted in Redis when CACHE_URL is Redis,
# else in Postgres: shared by every web process either way.
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_LOCKOUT_SECONDS = env.int("LOGIN_LOCKOUT_SECONDS", default=15 * 60)
# Proxies in front of the login page whose X-Forwarded-For names the address a lockout
# counts (IPs or CIDRs). Empty: the peer's own address, which a client cannot choose.
LOGIN_TRUSTED_PROXIES = env.list("LOGIN_TRUSTED_PROXIES", default=[])
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
# Everything is stored in UTC; TIME_ZONE is the site's zone, used to show times in the UI.
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns about a missing folder
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=DEBUG)

# --- Email ------------------------------------------------------------------------------
# consolemail:// prints mail (password resets) to the web server's output.
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="cdp@localhost")

# --- Celery -----------------------------------------------------------------------------
# With no CELERY_BROKER_URL, Celery uses the filesystem broker under var/broker (kombu's
# filesystem transport, publishing by rename: cdp_project/devtools/filesystem_broker.py).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any]
if CELERY_BROKER_URL:
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Publishing happens in the request path: it must fail fast, never stall ingest.
        "socket_connect_timeout": 1,
        "socket_timeout": 2,
        "max_retries": 0,
    }
else:
    CELERY_BROKER_URL = FILESYSTEM_BROKER_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = filesystem_broker_options(VAR_DIR)
CELERY_BROKER_CONNECTION_TIMEOUT = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = False
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# What a task prints (the console email backend's messages) is logged at INFO, not as
# warnings that would bury real ones.
CELERY_WORKER_REDIRECT_STDOUTS_LEVEL = "INFO"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Beat records its own heartbeat on its tick; the worker records one when it runs the
# `heartbeat` task below. /health/ says "degraded" when one is older than twice this.
CELERY_BEAT_SCHEDULER = "cdp_project.beat:HeartbeatScheduler"
HEARTBEAT_SECONDS = env.int("HEARTBEAT_SECONDS", default=10)
# The heartbeat task has a queue of its own, which every worker consumes beside the default
# one in turn: behind a backlog of events in one queue, a busy worker would look dead.
CELERY_TASK_QUEUES = (
    Queue("celery", Exchange("celery"), routing_key="celery"),
    Queue("heartbeat", Exchange("heartbeat"), routing_key="heartbeat"),
)
CELERY_TASK_ROUTES = {"cdp.heartbeat": {"queue": "heartbeat"}}
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "cdp-heartbeat": {
        "task": "cdp.heartbeat",
        "schedule": timedelta(seconds=HEARTBEAT_SECONDS),
        # One late heartbeat is enough: those a stopped worker missed are dropped.
        "options": {"expires": 2 * HEARTBEAT_SECONDS},
    },
    "ingestion-event-retention": {
        "task": "ingestion.apply_event_retention",
        "schedule": crontab(hour=3, minute=30),
    },
    "ingestion-sweep-unprocessed": {
        "task": "ingestion.sweep_unprocessed_events",
        "schedule": timedelta(seconds=env.int("INGEST_SWEEP_SECONDS", default=30)),
    },
    "ingestion-event-hours-refresh": {
        "task": "ingestion.event_hours_refresh",
        "schedule": timedelta(seconds=env.int("ANALYTICS_ROLLUP_SECONDS", default=60)),
    },
    "ingestion-prune-refusals": {
        "task": "ingestion.prune_refusals",
        "schedule": timedelta(hours=1),
    },
    "profiles-rfm-refresh": {
        "task": "profiles.rfm_refresh",
        "schedule": timedelta(seconds=env.int("PROFILES_RFM_REFRESH_SECONDS", default=3600)),
    },
    "profiles-engagement-decay": {
        "task": "profiles.engagement_decay",
        "schedule": timedelta(hours=1),
    },
    "segments-refresh": {
        "task": "segments.refresh_all",
        "schedule": timedelta(seconds=env.int("SEGMENTS_REFRESH_SECONDS", default=300)),
    },
    "campaigns-run-due": {
        "task": "campaigns.run_due",
        "schedule": timedelta(seconds=env.int("CAMPAIGNS_TICK_SECONDS", default=10)),
    },
    # Journeys' segment entries a refresh found, broadcasts and date triggers that are due.
    "campaigns-journeys-tick": {
        "task": "campaigns.journeys_tick",
        "schedule": timedelta(seconds=env.int("CAMPAIGNS_TICK_SECONDS", default=10)),
    },
}

# --- Cache ------------------------------------------------------------------------------
# In-process by default. With a redis:// URL, rate limits and login lockouts count there;
# without, in Postgres (cdp_project/core/counters.py).
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

# --- Ingest -----------------------------------------------------------------------------
# Limits are applied after decompression. See docs/ingest.md for every rule.
INGEST_MAX_EVENT_BYTES = 32 * 1024
INGEST_MAX_REQUEST_BYTES = 500 * 1024
INGEST_MAX_BATCH_EVENTS = 2500
INGEST_MAX_DEPTH = 32
# Events whose corrected time lies further in the future than this, or before the far-past
# bound, are stored with the time they were received and the flag `timestamp_out_of_range`.
INGEST_FUTURE_TOLERANCE = timedelta(minutes=env.int("INGEST_FUTURE_TOLERANCE_MINUTES", 10))
INGEST_PAST_LIMIT = timedelta(days=env.int("INGEST_PAST_LIMIT_DAYS", default=5 * 365))
# Proxies whose X-Forwarded-For is believed when filling context.ip (IPs or CIDRs).
INGEST_TRUSTED_PROXIES = env.list("INGEST_TRUSTED_PROXIES", default=["127.0.0.1", "::1"])
# Events not processed this long after receipt are picked up by the periodic sweep.
INGEST_SWEEP_GRACE = timedelta(seconds=env.int("INGEST_SWEEP_GRACE_SECONDS", default=30))
# After a failed publish of any task, skip the broker for this long (each task has a
# fallback: the sweep, the scheduled refresh, the campaigns' tick). INGEST_PUBLISH_BACKOFF_SECONDS
# is its former name, still read.
TASK_PUBLISH_BACKOFF = timedelta(
    seconds=env.int("TASK_PUBLISH_BACKOFF_SECONDS", env.int("INGEST_PUBLISH_BACKOFF_SECONDS", 15))
)
# At most this many events per write key in each window of this many seconds; more get 429
# with Retry-After (0 turns the limit off). Counted in Redis when CACHE_URL is Redis, else in
# Postgres: shared by every web process either way.
INGEST_RATE_LIMIT_EVENTS = env.int("INGEST_RATE_LIMIT_EVENTS", default=100_000)
INGEST_RATE_LIMIT_WINDOW_SECONDS = env.int("INGEST_RATE_LIMIT_WINDOW_SECONDS", default=10)
INGEST_REFUSAL_RETENTION = timedelta(days=env.int("INGEST_REFUSAL_RETENTION_DAYS", default=7))
# Follow-up work run on every stored event, in order; later capabilities add theirs here.
INGEST_EVENT_PROCESSORS: list[str] = [
    "ingestion.catalog.discovery.catalog_discover",
    # After discovery, so that a new activity already has its commerce role.
    "profiles.computed.profiles_update",
    # Last: campaign triggers and exits read the commerce roles and the profiles' state.
    "campaigns.engine.campaigns_enroll",
    # The people of the batch, checked against the segments journeys enter on, once it commits.
    "campaigns.entries.segment_entries_after_batch",
]
# Django reads the body itself; allow room for the limit above plus gzip headers.
DATA_UPLOAD_MAX_MEMORY_SIZE = INGEST_MAX_REQUEST_BYTES + 64 * 1024

# --- Catalog ------------------------------------------------------------------------------
# Example values kept per field, newest first.
CATALOG_EXAMPLES = 5
# Email-like and phone-like example values are shown masked (j•••@e•••.com).
CATALOG_MASK_CONTACT_EXAMPLES = env.bool("CATALOG_MASK_CONTACT_EXAMPLES", default=True)
# Bounds, so that a payload with thousands of keys cannot flood the catalog.
CATALOG_MAX_PROPERTIES_PER_ACTIVITY = env.int("CATALOG_MAX_PROPERTIES_PER_ACTIVITY", 500)
CATALOG_MAX_PROFILE_ATTRIBUTES = env.int("CATALOG_MAX_PROFILE_ATTRIBUTES", default=1000)
CATALOG_MAX_PATHS_PER_EVENT = 1000
CATALOG_MAX_ARRAY_ITEMS_SCANNED = 50

# --- Profiles -----------------------------------------------------------------------------
# How many anonymous ids one profile may collect (see docs/profiles.md).
PROFILE_MAX_ANONYMOUS_IDS = env.int("PROFILE_MAX_ANONYMOUS_IDS", default=100)
# CSV imports from the upload page stop at this size: the page imports while the browser
# waits, and the upload is kept in memory only. The `import_profiles` and `import_orders`
# commands read files of any size.
PROFILE_IMPORT_MAX_BYTES = env.int("PROFILE_IMPORT_MAX_MB", default=2) * 1024 * 1024
# The key of the hashes that suppressed ids are kept as (HMAC-SHA256). Set it once and keep
# it: a new key makes the suppressions stored so far stop matching. The default is derived
# from SECRET_KEY, so rotating that has the same effect.
PROFILE_SUPPRESSION_KEY = (
    env.str("PROFILE_SUPPRESSION_KEY", default="")
    or hmac.new(SECRET_KEY.encode(), b"cdp.profiles.suppression", "sha256").hexdigest()
)
# How long a process trusts "no id is suppressed" before asking the database again: a
# deletion takes effect at once in the process that made it, in the others within this.
PROFILE_SUPPRESSION_RECHECK_SECONDS = env.float("PROFILE_SUPPRESSION_RECHECK_SECONDS", default=5)
# Events older than this many days are deleted every night; 0 keeps them forever.
EVENT_RETENTION_DAYS = env.int("EVENT_RETENTION_DAYS", default=0)
# Revenue is shown in the site's currency; orders in another one are converted at these
# rates ("EUR=1.08,GBP=1.27": one euro is worth 1.08 of the site's currency).
SITE_CURRENCY = env.str("SITE_CURRENCY", default="USD").upper()
CURRENCY_RATES: dict[str, Decimal] = {
    code.strip().upper(): Decimal(rate)
    for code, rate in env.dict("CURRENCY_RATES", default={}).items()
}
# The engagement score halves every this many days without activity.
ENGAGEMENT_HALF_LIFE_DAYS = env.float("ENGAGEMENT_HALF_LIFE_DAYS", default=14.0)
# How many recently viewed products a profile keeps.
PROFILE_LAST_VIEWED = 10
# What other apps add to a profile's timeline, merged in by time (profiles.selectors):
# dotted paths of callables taking (profile, since, until) and returning TimelineExtra.
PROFILE_TIMELINE_EXTRAS: list[str] = [
    # Every message sent to the person, and why a campaign sent none.
    "campaigns.timeline.profile_timeline_messages",
]

# --- Segments (docs/segments.md) --------------------------------------------------------------
# A builder preview (count and samples) gives up after this long, with a message.
SEGMENTS_PREVIEW_TIMEOUT_SECONDS = env.float("SEGMENTS_PREVIEW_TIMEOUT_SECONDS", default=15)
# A refresh gives up after this long and leaves the membership as it was.
SEGMENTS_REFRESH_TIMEOUT_SECONDS = env.float("SEGMENTS_REFRESH_TIMEOUT_SECONDS", default=300)
# "Refresh now" runs in the request below this size, on a worker above it.
SEGMENTS_INLINE_REFRESH_MAX = env.int("SEGMENTS_INLINE_REFRESH_MAX", default=100_000)

# --- Campaigns (docs/campaigns.md) -----------------------------------------------------------
# How often beat sends what is due (a message is never more than this late).
CAMPAIGNS_TICK_SECONDS = env.int("CAMPAIGNS_TICK_SECONDS", default=10)
# Events whose time is older than this when processed (back-filled, delayed) never trigger.
CAMPAIGNS_MAX_EVENT_AGE_HOURS = env.float("CAMPAIGNS_MAX_EVENT_AGE_HOURS", default=24)
# At most this many marketing messages per person per 24 hours, all campaigns together;
# 0 = no limit. Transactional messages (order confirmations) do not count.
CAMPAIGNS_MARKETING_CAP_PER_DAY = env.int("CAMPAIGNS_MARKETING_CAP_PER_DAY", default=2)
# The public address of this app, for unsubscribe links in emails.
CAMPAIGNS_SITE_URL = env.str("CAMPAIGNS_SITE_URL", default="http://localhost:8000")
# A channel failure is retried after 1, 2, 4, … times this; the message fails after
# CAMPAIGNS_MAX_ATTEMPTS tries, with the error kept.
CAMPAIGNS_RETRY_SECONDS = env.int("CAMPAIGNS_RETRY_SECONDS", default=60)
CAMPAIGNS_MAX_ATTEMPTS = env.int("CAMPAIGNS_MAX_ATTEMPTS", default=5)
# A template that takes longer than this to render fails (and is not sent).
CAMPAIGNS_RENDER_SECONDS = env.float("CAMPAIGNS_RENDER_SECONDS", default=2)
# Webhooks to loopback, private and link-local addresses are refused unless this is set
# (local development and tests).
WEBHOOK_ALLOW_PRIVATE = env.bool("WEBHOOK_ALLOW_PRIVATE", default=False)
# The email provider's bounce and complaint webhooks (/campaigns/esp/<provider>/tracking/)
# need ANYMAIL_WEBHOOK_SECRET, a "user:password" given to the provider as HTTP Basic auth;
# without it they are off. Every other ANYMAIL_<NAME> variable becomes anymail's <NAME>
# (a provider's API key, or the signing key of one that signs its webhooks, such as
# ANYMAIL_MAILGUN_WEBHOOK_SIGNING_KEY).
ANYMAIL = {
    name.removeprefix("ANYMAIL_"): value
    for name, value in os.environ.items()
    if name.startswith("ANYMAIL_") and value
}
ANYMAIL.setdefault("WEBHOOK_SECRET", "")

# --- Demo storefront (docs/tracker.md) ------------------------------------------------------
# A small shop of the demo catalog at /shop/, sending through the web tracker. Turn it off
# in production.
STOREFRONT_ENABLED = env.bool("STOREFRONT_ENABLED", default=True)
# The shop asks for tracking consent first (a banner) and sends nothing until it is given.
STOREFRONT_CONSENT_REQUIRED = env.bool("STOREFRONT_CONSENT_REQUIRED", default=False)

# --- API ----------------------------------------------------------------------------------
REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "cdp_project.core.errors.api_exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CDP ingest API",
    "DESCRIPTION": (
        "Segment-compatible HTTP tracking API. Authenticate with HTTP Basic (the write key "
        "as user name, empty password) or `writeKey` in the body."
    ),
    "VERSION": "1.0.0",
    # 3.1: its schemas are JSON Schema, which can say "text or a number, or null".
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    # Swagger UI and ReDoc assets are served by the app itself, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "writeKey": {
                "type": "http",
                "scheme": "basic",
                "description": "The write key as user name and an empty password.",
            }
        }
    },
    "SECURITY": [{"writeKey": []}],
    "PREPROCESSING_HOOKS": ["cdp_project.schema.drop_ingest_aliases"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "cdp_project.schema.require_ingest_bodies",
    ],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"pgserver": {"level": "WARNING"}},
}

if not DEBUG:
    SESSION_COOKIE_HTTPONLY = True
    X_FRAME_OPTIONS = "DENY"

# --- HTTPS (production) ---------------------------------------------------------------------
# Off by default so that `make run` works on http://127.0.0.1; behind HTTPS set
# SECURE_SSL_REDIRECT=true, which also makes the session and CSRF cookies secure-only, and
# SECURE_HSTS_SECONDS. Behind a proxy that terminates TLS, SECURE_PROXY_SSL_HEADER names the
# header it sets ("HTTP_X_FORWARDED_PROTO=https"). `manage.py check --deploy` is clean then.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
# Load balancers check health over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^health/$"]
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=SECURE_SSL_REDIRECT)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=SECURE_SSL_REDIRECT)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
_proxy_ssl_header = env.str("SECURE_PROXY_SSL_HEADER", default="")
if _proxy_ssl_header:
    SECURE_PROXY_SSL_HEADER = tuple(_proxy_ssl_header.split("=", 1))

# --- Content-Security-Policy (django-csp) --------------------------------------------------------
# No inline script runs but the few the app writes itself, each with the request's nonce
# (the web tracker's snippet on the demo shop); no event handler attributes, no eval (htmx
# needs none: the UI uses no hx-on). Inline styles are allowed: htmx adds its indicator
# style, and bars are drawn with style="width: …"; a style cannot run code. Images may come
# from anywhere, because product images and email templates point at the shop's own hosts.
from csp.constants import NONCE, NONE, SELF  # noqa: E402

CONTENT_SECURITY_POLICY = {
    # The ingest API answers JSON to SDKs, which no browser renders as a page: building a
    # policy for each of its responses would cost every request for nothing.
    "EXCLUDE_URL_PREFIXES": ["/v1/"],
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, "'unsafe-inline'"],
        "img-src": ["*", "data:"],
        "connect-src": [SELF],
        "font-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [SELF],
    },
}
