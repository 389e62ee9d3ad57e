"""Mimik settings: everything that varies between machines is read from the environment here.

Local defaults make a fresh checkout run (`make run`): SQLite, and when no Redis answers, tasks run
in-process and the channel layer lives in memory. Production sets DATABASE_URL, REDIS_URL and
SECRET_KEY and leaves DEBUG off.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import environ
import plotly
from django.utils.translation import gettext_lazy as _

from config.env import env_bool, env_float, env_int, env_list, env_secret, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
logger = logging.getLogger("mimik.settings")

DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_secret("SECRET_KEY", debug=DEBUG, debug_default="dev-only-insecure-key-do-not-use-in-production")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] + (["testserver"] if DEBUG else []))
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# The address in e-mailed and printed links. Unset, it follows HOST and PORT, the address `make run`
# serves on, so a second instance on another port hands out links to itself.
_SERVE_HOST = env_str("HOST", "127.0.0.1")
_LINK_HOST = "localhost" if _SERVE_HOST in ("127.0.0.1", "0.0.0.0", "::", "") else _SERVE_HOST  # noqa: S104
_LINK_HOST = f"[{_LINK_HOST}]" if ":" in _LINK_HOST else _LINK_HOST
SITE_URL = env_str("SITE_URL", f"http://{_LINK_HOST}:{env_str('PORT', '8000')}").rstrip("/")

INSTALLED_APPS = [
    "config.apps.MimikConfig",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "channels",
    "campaigns.apps.CampaignsConfig",
    "sessions.apps.TesterSessionsConfig",
    "inference.apps.InferenceConfig",
    "dashboard.apps.DashboardConfig",
    "reports.apps.ReportsConfig",
    "demo.apps.DemoConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.security.SecurityHeadersMiddleware",
    "config.errors.ServiceUnavailableMiddleware",
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
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# --- Database --------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
DATABASES = {"default": environ.Env.db_url_config(DATABASE_URL)}
# One connection per process (a gunicorn sync worker, a Celery pool process), kept between requests
# and tested with a query before a request reuses it, so a PostgreSQL restart costs a reconnect, not
# an error. The ASGI process (config/asgi.py) opens one per request instead: its sync code runs on
# changing threads, and per-thread connections would pile up (Django's "Persistent connections").
DATABASES["default"]["CONN_MAX_AGE"] = env_int("DATABASE_CONN_MAX_AGE", 60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if env_str("DATABASE_TEST_NAME"):
    # Lets parallel test runs on one PostgreSQL server use separate test databases.
    DATABASES["default"]["TEST"] = {"NAME": env_str("DATABASE_TEST_NAME")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The embedded SQLite default ignores covering-index columns; PostgreSQL uses them.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]


# --- Redis: broker, channel layer, rate limits ------------------------------------------------
def _redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.3, socket_timeout=0.3).ping())
    except (redis.RedisError, OSError, ValueError):
        return False


REDIS_URL = env_str("REDIS_URL")
if not REDIS_URL and _redis_answers("redis://127.0.0.1:6379/0"):
    REDIS_URL = "redis://127.0.0.1:6379/0"
# Without Redis, a newcomer still sees the whole product: tasks run in the web process and live
# updates travel through an in-memory channel layer (one process only).
EMBEDDED_FALLBACK = not REDIS_URL
if EMBEDDED_FALLBACK:
    sys.stderr.write(
        "Mimik: no Redis configured or answering at 127.0.0.1:6379 - using the embedded fallback "
        "(Celery tasks run in-process, in-memory channel layer). Set REDIS_URL for real workers.\n"
    )

if EMBEDDED_FALLBACK:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": env_str("CHANNEL_LAYER_PREFIX", "mimik:asgi")},
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "mimik"),
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }

# --- Celery -----------------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://"
# kombu's Redis transport without its window for losing a message between taking it and
# recording it as unacknowledged (config.celery; needs Redis >= 6.2 for BLMOVE).
CELERY_BROKER_TRANSPORT = "config.celery:RedisTransport" if REDIS_URL.startswith("redis://") else None
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = EMBEDDED_FALLBACK
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Frames are analysed in batches of up to 16 per pool process (inference.tasks): a worker holds
# two batches' worth per process, one running and one filling.
CELERY_WORKER_PREFETCH_MULTIPLIER = 32
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
# msgpack: the frame and baseline snapshot messages carry the JPEG as raw bytes (inference.services).
CELERY_ACCEPT_CONTENT = ["json", "msgpack"]
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 30)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 60)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis redelivers an unacknowledged message after this long (worker lost mid-task). A Redis that
# hangs fails a command within seconds: the upload answers 503 rather than wait (inference.services).
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 300),
    "socket_connect_timeout": 2,
    "socket_timeout": 2,
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Housekeeping run by `celery worker -B` (make run) or a separate `celery beat`: retention of kept
# snapshots and of expired invitations' e-mail addresses, and the backstop for lost messages.
CELERY_BEAT_SCHEDULE = {
    "purge-expired-frames": {"task": "inference.purge_expired_frames", "schedule": 3600.0},
    "expire-stale-frames": {"task": "inference.expire_stale_frames", "schedule": 900.0},
    "expire-stale-baseline-snapshots": {"task": "inference.expire_stale_baseline_snapshots", "schedule": 900.0},
    "erase-expired-invitations": {"task": "campaigns.erase_expired_invitations", "schedule": 3600.0},
}

# --- Auth, i18n, static and media -------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "campaigns:list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = env_str("LANGUAGE_CODE", "en")
LANGUAGES = [("en", _("English")), ("de", _("German"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "Europe/Berlin")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
# plotly.js is served from the plotly wheel's own copy (no CDN, nothing vendored in git):
# {% static "vendor/plotly/plotly.min.js" %}.
STATICFILES_DIRS = [BASE_DIR / "static", ("vendor/plotly", Path(plotly.__file__).parent / "package_data")]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "var" / "staticfiles")))
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "var" / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# --- E-mail -----------------------------------------------------------------------------------
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH", str(BASE_DIR / "var" / "mail"))
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Mimik <noreply@mimik.local>")

# --- REST framework ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Mimik API",
    "DESCRIPTION": "Snapshot upload for testers and campaign results for researchers.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

# --- Security (production defaults; HTTPS itself is terminated by the reverse proxy) ----------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_HTTPS_PROXY", False) else None
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 5 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = env_int("FILE_UPLOAD_MAX_MEMORY_SIZE", 2_621_440)
# Uploads larger than FILE_UPLOAD_MAX_MEMORY_SIZE go to a temporary file; snapshots never do.

# --- Mimik product settings -------------------------------------------------------------------
MIMIK = {
    # Upload API
    "FRAME_MAX_BYTES": env_int("MIMIK_FRAME_MAX_BYTES", 2 * 1024 * 1024),
    "FRAME_RATE_LIMIT_PER_MINUTE": env_int("MIMIK_FRAME_RATE_LIMIT_PER_MINUTE", 240),
    "FRAME_MAX_AGE_SECONDS": env_int("MIMIK_FRAME_MAX_AGE_SECONDS", 3600),
    # Webcam snapshots are at most full HD; anything far larger is a decompression bomb.
    "FRAME_MAX_PIXELS": env_int("MIMIK_FRAME_MAX_PIXELS", 4096 * 4096),
    # Canvas snapshots carry no EXIF at all; a large metadata block is someone probing the parser.
    "FRAME_MAX_METADATA_BYTES": env_int("MIMIK_FRAME_MAX_METADATA_BYTES", 16 * 1024),
    # Variants
    "VARIANT_MAX_BYTES": env_int("MIMIK_VARIANT_MAX_BYTES", 100 * 1024 * 1024),
    "VARIANT_MAX_PIXELS": env_int("MIMIK_VARIANT_MAX_PIXELS", 40_000_000),
    # Invitations
    "INVITATION_TTL_DAYS": env_int("MIMIK_INVITATION_TTL_DAYS", 14),
    # Days after expiry when an invitation's e-mail address is erased (the beat task above).
    "INVITATION_ERASE_AFTER_DAYS": env_int("MIMIK_INVITATION_ERASE_AFTER_DAYS", 30),
    # Quality gates (see README, "Quality gates")
    "FACE_MIN_SIZE_PX": env_int("MIMIK_FACE_MIN_SIZE_PX", 60),
    "FACE_MIN_LUMINANCE": env_float("MIMIK_FACE_MIN_LUMINANCE", 40.0),
    "FACE_MAX_LUMINANCE": env_float("MIMIK_FACE_MAX_LUMINANCE", 220.0),
    "FACE_MIN_SHARPNESS": env_float("MIMIK_FACE_MIN_SHARPNESS", 15.0),
    "FACE_DETECTION_MIN_SCORE": env_float("MIMIK_FACE_DETECTION_MIN_SCORE", 0.6),
    # Audiences: a figure for a group of testers (a screener answer) needs at least this many testers,
    # so that no tester can be picked out.
    "MIN_AUDIENCE_TESTERS": env_int("MIMIK_MIN_AUDIENCE_TESTERS", 5),
    # Attention: a found face counts as looking at the screen when its head is turned less than this.
    "ATTENTION_MAX_HEAD_TURN_DEGREES": env_float("MIMIK_ATTENTION_MAX_HEAD_TURN_DEGREES", 30.0),
    # Analysis counts as behind (healthz, the dashboard) when the oldest pending frame is older.
    "BACKLOG_WARN_SECONDS": env_int("MIMIK_BACKLOG_WARN_SECONDS", 120),
}

# GET /metrics (Prometheus) answers only `Authorization: Bearer <METRICS_TOKEN>`; empty: no endpoint (404).
METRICS_TOKEN = env_str("METRICS_TOKEN", "")
if METRICS_TOKEN:
    # Uploads by status cost one Redis HINCRBY each: counted only where the metrics are scraped.
    MIDDLEWARE.insert(1, "config.metrics.UploadMetricsMiddleware")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
