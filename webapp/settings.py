"""Django settings for Quorum, read from the environment (see docs/operations.md).

Variables: DATABASE_URL, REDIS_URL, SECRET_KEY, DEBUG, ALLOWED_HOSTS,
CSRF_TRUSTED_ORIGINS, and the optional ones documented next to each setting below.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from webapp.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)

_DEV_SECRET_KEY = "dev-only-insecure-key-never-use-in-production-0123456789abcdef"  # noqa: S105
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it in the environment (50+ random characters), "
            "or set DEBUG=1 for a development-only default."
        )
    SECRET_KEY = _DEV_SECRET_KEY

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "ninja",  # serves the API docs' Swagger UI from its bundled static files
    "django_prometheus",
    "channels",
    "webapp.accounts",
    "webapp.ops",
    "webapp.pages",
    "webapp.workflows",
    "webapp.providers",
    "webapp.runs",
    "webapp.editor",
    "webapp.reports",
    "webapp.monitoring",
    "webapp.audit",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "webapp.security.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "webapp.accounts.middleware.CurrentTeamMiddleware",
    "webapp.audit.context.AuditContextMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "webapp.urls"

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
                "webapp.accounts.context_processors.team",
                "webapp.runs.context_processors.budget",
            ],
        },
    },
]

WSGI_APPLICATION = "webapp.wsgi.application"
ASGI_APPLICATION = "webapp.asgi.application"

# --- Database: Postgres through psycopg 3 with Django's built-in connection pool.
# DB_POOL_MIN / DB_POOL_MAX bound the connections each process holds.
DATABASE_URL = env_str("DATABASE_URL", "postgres://localhost:5432/quorum")
_db = dj_database_url.parse(DATABASE_URL)
if _db.get("ENGINE") != "django.db.backends.postgresql":
    raise ImproperlyConfigured(f"DATABASE_URL must be a postgres:// URL, got {DATABASE_URL!r}")
_db["CONN_MAX_AGE"] = 0  # the pool owns connection reuse
_db["OPTIONS"] = {
    "pool": {
        "min_size": env_int("DB_POOL_MIN", 1),
        "max_size": env_int("DB_POOL_MAX", 10),
        "timeout": env_int("DB_POOL_TIMEOUT", 10),
    },
    # The engine's per-hop statements (webapp.runs.bulk.prepared) are prepared
    # server side once per connection; Django's own queries never are.
    # DB_PREPARED_STATEMENTS=0 turns that off (behind PgBouncer in transaction
    # mode older than 1.21, which cannot keep prepared statements).
    "prepare_threshold": 5 if env_bool("DB_PREPARED_STATEMENTS", True) else None,
}
if _db["OPTIONS"]["prepare_threshold"] is not None:
    # Those statements are keyed by primary key or run id, so one generic plan
    # per statement fits every call; without this, Postgres re-plans a statement
    # with many parameters (the express record's) at every call, which cost
    # more than running it (docs/benchmarks.md, B1).
    _db["OPTIONS"]["options"] = "-c plan_cache_mode=force_generic_plan"
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: the Celery broker and result backend, the channel layer, the cache.
REDIS_URL = env_str("REDIS_URL", "redis://localhost:6379/0")

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "quorum",
    }
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": "quorum"},
    }
}

# Celery reads every setting prefixed CELERY_ (see webapp/celery.py).
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = None  # results live in Postgres (Step rows), never in the broker
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "cpu"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Above the longest node timeout; a message unacked for this long is redelivered.
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT_S", 7200),
}
CELERY_TIMEZONE = "UTC"

# --- Auth
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Email: the console in development, SMTP otherwise (EMAIL_HOST, EMAIL_PORT, ...).
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Quorum <quorum@localhost>")

# --- i18n
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files, served by WhiteNoise in DEBUG and not (no CDN anywhere).
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / ".state" / "staticfiles")))
WHITENOISE_USE_FINDERS = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Security. Production defaults are strict; each can be relaxed by its variable.
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("TRUST_X_FORWARDED_PROTO", False) else None
)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# Probes and scrapers speak plain HTTP inside the cluster.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Content-Security-Policy on every response (webapp/security.py, docs/security.md).
CONTENT_SECURITY_POLICY = env_str("CONTENT_SECURITY_POLICY", "") or None
# Sign-in throttling: failures per username and address, per address, window (s).
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
LOGIN_FAILURE_LIMIT_PER_IP = env_int("LOGIN_FAILURE_LIMIT_PER_IP", 50)
LOGIN_FAILURE_WINDOW_S = env_int("LOGIN_FAILURE_WINDOW_S", 900)

# /metrics: a bearer token when METRICS_TOKEN is set, otherwise loopback clients only.
METRICS_TOKEN = env_str("METRICS_TOKEN")

# /readyz: each check must answer within this many seconds.
READINESS_TIMEOUT_S = 2.0

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

CELERY_BEAT_SCHEDULE = {
    "clear-expired-sessions": {
        "task": "accounts.clear_expired_sessions",
        "schedule": 24 * 3600.0,  # seconds
    },
}

# Secrets at rest (webapp/crypto.py): comma-separated Fernet keys, first encrypts.
ENCRYPTION_KEYS = env_list("QUORUM_ENCRYPTION_KEYS", [])

# --- Engine
# The bundled fake OpenAI-compatible server ("Simulator") that `make run` starts.
SIMULATOR_URL = env_str("SIMULATOR_URL", "http://127.0.0.1:8765/v1")
# A running step's lease (s): renewed by its worker every third of it; the reaper
# re-queues steps whose lease expired (their worker died).
STEP_LEASE_S = float(env_int("STEP_LEASE_S", 15))
# Queued steps not started after this long are re-sent to the broker (s).
STEP_REQUEUE_AFTER_S = float(env_int("STEP_REQUEUE_AFTER_S", 300))
REAPER_INTERVAL_S = float(env_int("REAPER_INTERVAL_S", 5))
RUN_MAX_STEPS = env_int("RUN_MAX_STEPS", 100_000)
# Run-next (webapp/runs/worker.py): a worker runs a step its record made ready on
# its own queue without a broker round trip, up to this many steps per delivery;
# 1 turns it off (every step then goes through the broker).
RUNNEXT_MAX = max(1, env_int("RUNNEXT_MAX", 100))
# The express record (webapp/runs/express.py): a step that succeeded with no LLM
# calls, in a run this thread recorded last, is recorded with the steps it makes
# ready in one statement. 0 sends every outcome through the general path.
RECORD_EXPRESS = env_bool("RECORD_EXPRESS", True)
# Map items dispatched together are sent this many to a Celery message
# (engine.send_items; 1 = one message per item). Retries and re-sends go alone.
MAP_ITEMS_PER_MESSAGE = max(1, env_int("MAP_ITEMS_PER_MESSAGE", 25))
# Concurrent top-level runs per team unless its quota says otherwise (0 = no
# limit); extra runs wait queued (webapp/runs/quotas.py).
TEAM_MAX_CONCURRENT_RUNS = env_int("TEAM_MAX_CONCURRENT_RUNS", 20)
# Steps go to one of QUEUE_SHARDS queues per kind (io.0 ... io.N-1), chosen by
# team; workers consume all of them round robin, so one team's flood of steps
# does not delay another team's (webapp/celery.py).
QUEUE_SHARDS = max(1, env_int("QUEUE_SHARDS", 8))
CELERY_BEAT_SCHEDULE["reap-steps"] = {
    "task": "runs.reap",
    "schedule": REAPER_INTERVAL_S,
}
# The weekly usage email (webapp/reports/weekly.py): Mondays 06:00 UTC.
CELERY_BEAT_SCHEDULE["weekly-usage-reports"] = {
    "task": "reports.send_weekly_usage",
    "schedule": crontab(minute="0", hour="6", day_of_week="1"),
}
