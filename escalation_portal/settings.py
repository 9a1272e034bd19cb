"""Settings for the Escalation Portal, read from the environment (12-factor).

Every value has a safe default for a developer's laptop: SQLite under var/, an
embedded Celery broker that needs no server, mail written to files. Production
sets DATABASE_URL, CELERY_BROKER_URL, EMAIL_URL, SECRET_KEY and ALLOWED_HOSTS.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

env = environ.Env()

# --- Core ---------------------------------------------------------------------
DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off. For a local demo run `make run`, "
            "which sets DEBUG=1."
        )
    SECRET_KEY = "insecure-development-key-only-for-debug-mode"

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_fsm",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_htmx",
    "escalation_portal",
    "incidents",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "escalation_portal.urls"
WSGI_APPLICATION = "escalation_portal.wsgi.application"
ASGI_APPLICATION = "escalation_portal.asgi.application"

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
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'portal.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat write at once. Django's default deferred transactions fail at
    # once with "database is locked"; IMMEDIATE + WAL + a busy timeout make them queue.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    # Server-side parameters let psycopg prepare a query the fifth time a connection runs it,
    # so PostgreSQL plans it once instead of on every request: the pages' joins took longer
    # to plan (up to 1.6 ms each) than to run (measured on the support queue).
    if env.bool("DATABASE_PREPARED_STATEMENTS", default=True):
        DATABASES["default"].setdefault("OPTIONS", {}).update(
            {"server_side_binding": True, "prepare_threshold": 5}
        )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth ---------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# The stock ModelBackend, with a user's own and group permissions read in one query.
AUTHENTICATION_BACKENDS = ["escalation_portal.auth_backends.OneQueryModelBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Internationalisation -----------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static files -------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Forms --------------------------------------------------------------------
CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# --- E-mail -------------------------------------------------------------------
# Default: every message is written to a file under var/mail, readable in-app.
_email = env.email_url("EMAIL_URL", default="filemail://")
if _email["EMAIL_BACKEND"] == "django.core.mail.backends.filebased.EmailBackend":
    _email["EMAIL_FILE_PATH"] = str(VAR_DIR / "mail")
vars().update(_email)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Escalation Portal <portal@localhost>")
# Django waits forever by default: a silent SMTP server would block a worker for good.
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)

# --- Celery -------------------------------------------------------------------
# Celery reads CELERY_BROKER_URL from the environment itself, over any setting; we read
# the same variable so both always agree. The embedded default is SQLAlchemy on a SQLite
# file: kombu's filesystem transport can read a half-written message (kombu #1551).
CELERY_BROKER_URL = env.str(
    "CELERY_BROKER_URL", default=f"sqla+sqlite:///{VAR_DIR / 'celery-broker.sqlite3'}"
)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
# acks_late alone lost a task when a pool child was killed; this requeues it.
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fix-up closes the database connection before and after every task unless
# this is set: a new PostgreSQL connection per delivery batch was a third of the batch's
# time (profiled, bench_notifications). With it set, the fix-up closes them only every this
# many tasks, and escalation_portal.celery checks them around each task as Django does around
# each request (CONN_MAX_AGE, CONN_HEALTH_CHECKS).
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 90
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing must not hang a request when the broker is away: the outbox row survives.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
# Fail fast when Redis is away (connection refused or silent): the outbox row survives.
BROKER_REDIS_TRANSPORT_OPTIONS = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "socket_timeout": 2,
    "socket_connect_timeout": 0.5,
}
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {}
    if CELERY_BROKER_URL.startswith("sqla+")
    # The SQLAlchemy transport hands every option to create_engine(); give it none.
    else BROKER_REDIS_TRANSPORT_OPTIONS
)
# A web request publishes after its commit; with Redis down it must give up within a fraction
# of a second (measured: well under 1 s) and leave the row to the sweeper.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.1,
    "interval_max": 0.1,
}
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE: dict = {}
# The SLA monitor: thresholds and breaches are acted on within a minute. A run that finds
# work still queued after a minute is pointless (the next one covers it), hence expires.
CELERY_BEAT_SCHEDULE["sla-monitor"] = {
    "task": "incidents.sla_monitor",
    "schedule": 60.0,
    "options": {"expires": 55},
}
# The SQLAlchemy transport never deletes delivered messages; a no-op on Redis.
CELERY_BEAT_SCHEDULE["broker-housekeeping"] = {
    "task": "escalation_portal.tasks.broker_housekeeping",
    "schedule": 15 * 60,
}

# Notifications: delivery retries and the outbox sweeper (docs/notifications.md).
NOTIFICATIONS = {
    # Transient failures (connection errors, SMTP 4xx) retry with exponential backoff and
    # +-25 % jitter: 1, 2, 4 ... minutes, capped at an hour; 10 attempts span about 4 hours.
    "RETRY_BASE_SECONDS": env.float("NOTIFY_RETRY_BASE_SECONDS", default=60),
    "RETRY_MAX_SECONDS": env.float("NOTIFY_RETRY_MAX_SECONDS", default=3600),
    "MAX_ATTEMPTS": env.int("NOTIFY_MAX_ATTEMPTS", default=10),
    # The sweeper re-enqueues e-mail rows whose attempt is overdue by this long.
    "SWEEP_INTERVAL_SECONDS": env.float("NOTIFY_SWEEP_INTERVAL_SECONDS", default=60),
    "SWEEP_AFTER_SECONDS": env.float("NOTIFY_SWEEP_AFTER_SECONDS", default=180),
    "SWEEP_BATCH": env.int("NOTIFY_SWEEP_BATCH", default=500),
    # One delivery task also drains up to this many other due rows over one SMTP connection.
    "DELIVERY_BATCH": env.int("NOTIFY_DELIVERY_BATCH", default=20),
    # A delivery task sends its rows over this many SMTP sessions at once (lanes: threads of
    # the worker process, each with its own session and database connection).
    "DELIVERY_SESSIONS": env.int("NOTIFY_DELIVERY_SESSIONS", default=4),
    # A delivery task holds the rows it is sending this long. It must outlive the task
    # (CELERY_TASK_TIME_LIMIT), so that no two tasks ever send one row at once.
    "CLAIM_SECONDS": max(
        env.float("NOTIFY_CLAIM_SECONDS", default=0), CELERY_TASK_TIME_LIMIT + 60.0
    ),
    "MESSAGE_ID_DOMAIN": env.str("NOTIFY_MESSAGE_ID_DOMAIN", default=""),
}
CELERY_BEAT_SCHEDULE["notifications-sweep-outbox"] = {
    "task": "notifications.tasks.sweep_outbox",
    "schedule": NOTIFICATIONS["SWEEP_INTERVAL_SECONDS"],
}

# --- Portal behaviour ---------------------------------------------------------
PORTAL = {
    # Hours without a progress note before an incident is marked stale, by priority.
    "STALE_AFTER_HOURS": {1: 1, 2: 4, 3: 8, 4: 24, 5: 48},
    # The approver of a deescalation plan may not be its author (four-eyes).
    "PLAN_FOUR_EYES": env.bool("PLAN_FOUR_EYES", default=False),
}

# --- Deescalation and major incidents -----------------------------------------
PORTAL.update(
    {
        # An overdue activity reminds its owner at its due time, then again every so often.
        "ACTIVITY_REMINDER_REPEAT_MINUTES": env.int(
            "ACTIVITY_REMINDER_REPEAT_MINUTES", default=240
        ),
        # IT operations must acknowledge a major incident within this; then every such
        # period without acknowledgement re-alerts them and tells the incident managers.
        "MAJOR_ACK_TIMEOUT_MINUTES": env.int("MAJOR_ACK_TIMEOUT_MINUTES", default=15),
        # Thresholds shown as major-incident criteria beside "classify major".
        "MAJOR_USERS_AFFECTED": 50,
        "MAJOR_SERVICES_AFFECTED": 2,
        "MAJOR_LINKED_INCIDENTS": 3,
    }
)
CELERY_BEAT_SCHEDULE["deescalation-reminders"] = {
    "task": "incidents.tasks_deescalation.deescalation_reminders",
    "schedule": env.float("DEESCALATION_MONITOR_SECONDS", default=60.0),
}

# --- Security (production) ----------------------------------------------------
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # Django's own `django` logger has a console handler of its own when DEBUG is on: with
    # the root's, every error printed twice. Its records go to the root's handler alone.
    "loggers": {"django": {"handlers": [], "level": "INFO", "propagate": True}},
}
