"""Settings for Schuifoefening live, all from the environment.

The embedded default (no DATABASE_URL, no REDIS_URL) is SQLite plus the
in-memory channel layer: one process, nothing to install. Set DATABASE_URL and
REDIS_URL to run several daphne processes on PostgreSQL and Redis.
"""

import ipaddress
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (1/0, true/false), got {raw!r}")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {value}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_networks(
    name: str, default: list[str] | None = None
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """Comma-separated IP addresses or CIDR networks; an address is a network of one."""
    networks = []
    for item in env_list(name, default or []):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"{name} must be comma-separated IP addresses or networks (like 10.0.0.1,10.1.0.0/16), got {item!r}"
            ) from None
    return tuple(networks)


DEBUG = env_bool("DEBUG", False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        # A known key would let anyone forge a facilitator's session cookie.
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off: `make run` keeps one in .secret_key; "
            "in production set it from your secret store (or set DEBUG=1 for development)"
        )
    # Development only: sessions do not survive a change of key, which is fine with DEBUG=1.
    SECRET_KEY = "dev-only-insecure-key-set-SECRET_KEY-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# Reverse proxies whose X-Forwarded-For / X-Real-IP / X-Forwarded-Proto are believed
# (config/proxies.py). Empty: those headers are ignored, so no client can pick its address.
TRUSTED_PROXIES = env_networks("TRUSTED_PROXIES")
# A larger request body is answered 413 before it is read (config/limits.py).
MAX_REQUEST_BYTES = env_int("MAX_REQUEST_BYTES", 1024 * 1024, minimum=1024)
# Prometheus metrics at GET /metrics, per process (workshop/metrics.py, docs/deployment.md): off unless
# METRICS_ENABLED, and then answered only to these clients (addresses or networks, as config/proxies.py
# resolves a client behind TRUSTED_PROXIES); loopback when not set.
METRICS_ENABLED = env_bool("METRICS_ENABLED", False)
METRICS_ALLOWED_ADDRESSES = env_networks("METRICS_ALLOWED_ADDRESSES", default=["127.0.0.1", "::1"])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "axes",
    "django_htmx",
    "template_partials",
    "csp",
    "workshop",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # A NUL in a query or form field: 400 before anything reaches the database.
    "workshop.middleware.RefuseNulBytes",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "workshop.middleware.ContentSecurityPolicy",
    # Last, as django-axes requires: it turns a refused login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

# No inline script, no framing, sockets only to this site. Styles allow 'unsafe-inline'
# for the few computed widths in style attributes.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],  # plus ws:// and wss:// on the request's host: workshop.middleware
        "frame-ancestors": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "object-src": ["'none'"],
    }
}

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

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

# Databases: a plain `if` on DATABASE_URL.
DATABASE_URL = env_str("DATABASE_URL")
# DATABASE_POOLER=pgbouncer: PgBouncer in transaction mode hands each transaction any server
# connection, so nothing may outlive one: no named cursors (.iterator() would use them), no
# prepared statements (psycopg prepares a query run often enough). See docs/deployment.md.
DATABASE_POOLER = env_str("DATABASE_POOLER")
if DATABASE_POOLER not in {"", "pgbouncer"}:
    raise ImproperlyConfigured(f"DATABASE_POOLER must be empty or pgbouncer, got {DATABASE_POOLER!r}")
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL,
            conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
            conn_health_checks=True,
        )
    }
    if DATABASE_POOLER:
        DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
        DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = None
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            # Kept open: opening SQLite for every query of a joining phone cost more than the query.
            "CONN_MAX_AGE": env_int("DB_CONN_MAX_AGE", 600),
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                # WAL with synchronous=NORMAL: a commit survives the process being killed (kill -9 is
                # tested); an operating-system crash or power cut may lose the last commits. A commit
                # then costs no fsync, which a hall of phones joining at once would queue behind.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }

# Channel layer and live state: a plain `if` on REDIS_URL.
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # channels-redis blocks on BZPOPMIN for 5 s; redis-py 8 also times reads out after 5 s
                # by default, which kills idle sockets (close 1011). Reads must outlast the pop.
                "hosts": [{"address": REDIS_URL, "socket_timeout": 30}],
                "prefix": env_str("REDIS_PREFIX", "schuif"),
            },
        }
    }
    # Abuse limits (the join guard) count in the cache: shared by every process through Redis.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("REDIS_PREFIX", "schuif") + ":cache",
            "OPTIONS": {"socket_timeout": 2, "socket_connect_timeout": 2},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Live state keys live under this prefix in Redis; tests give each run its own.
LIVE_PREFIX = env_str("REDIS_PREFIX", "schuif")
# The garbage collector's thresholds (gc.set_threshold) in a server process: young collections after
# this many new objects instead of 700, so that a hall of long-lived sockets is walked far less often.
GC_THRESHOLDS = (env_int("GC_THRESHOLD_0", 50_000, minimum=100), 20, 20)
# Dashboards get at most one aggregate per this many seconds.
DASHBOARD_TICK = env_int("DASHBOARD_TICK_MS", 100, minimum=10) / 1000
# Participant moves are applied to Redis in batches this often, and dashboards woken at most this often
# (the embedded in-memory store takes each move at once).
LIVE_FLUSH = env_int("LIVE_FLUSH_MS", 50, minimum=5) / 1000
# A phone that has not been heard of for this long no longer counts as connected.
CONNECTED_TTL = env_int("CONNECTED_TTL_S", 60, minimum=5)
# How often a process with phones looks for their sessions closed by another process (closing_watch.py).
CLOSED_CHECK_SECONDS = env_int("CLOSED_CHECK_MS", 5000, minimum=50) / 1000
# Open event streams of the HTTP fallback per client address and process (workshop/fallback.py): a hall
# behind one NAT address fits; more get 429. deploy/nginx.conf's `limit_conn` on the stream matches it.
FALLBACK_STREAMS_PER_ADDRESS = env_int("FALLBACK_STREAMS_PER_ADDRESS", 200, minimum=1)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Axes first: a locked-out username or address is refused before the password is checked.
AUTHENTICATION_BACKENDS = [
    "config.logins.LoginThrottleBackend",  # axes' AxesStandaloneBackend, for web logins
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "start"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "nl"
LANGUAGES = [("nl", "Nederlands"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Amsterdam"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "workshop.static_storage.StaticStorage"
        if not DEBUG and env_bool("MANIFEST_STATIC", True)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Production hardening: on whenever DEBUG is off.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

# Login throttling (django-axes, config/logins.py): 10 failures for one username from one address
# lock that username for that address only, and 30 from one address lock that address, each for
# 15 minutes. So nobody elsewhere can lock a facilitator out: the owner logs in from their own
# address while someone else's is locked. Attempts during a lock-out do not renew it.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_USERNAME_FAILURE_LIMIT = 10
AXES_ADDRESS_FAILURE_LIMIT = 30
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# The handler compares each criterion with its own limit and reports 1 when one is reached.
AXES_FAILURE_LIMIT = 1
AXES_HANDLER = "config.logins.SeparateLimitsHandler"
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_RESET_ON_SUCCESS = False
# The address as config/proxies.py resolved it, not ipware's own reading of the headers.
AXES_CLIENT_IP_CALLABLE = "config.logins.client_address"
AXES_LOCKOUT_CALLABLE = "config.logins.lockout_response"
# Axes' own log lines name the username and path only; no addresses, no successful-login log.
AXES_VERBOSE = False
AXES_CLIENT_STR_CALLABLE = "config.logins.client_str"
AXES_DISABLE_ACCESS_LOG = True
AXES_ENABLE_ACCESS_FAILURE_LOG = False

# Logging: participants are anonymous; nothing here logs addresses or bodies, and every
# handler scrubs IP addresses from whatever daphne, Twisted or a library writes.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"no_addresses": {"()": "config.logfilters.ScrubAddresses"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["no_addresses"]},
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        # daphne's access log writes client addresses; participants' addresses are not ours to keep.
        "django.channels.server": {
            "handlers": [],
            "level": "ERROR",
            "propagate": False,
        },
        "daphne.access": {"handlers": [], "level": "ERROR", "propagate": False},
        # Django's defaults give these handlers of their own; route them through the scrubbing console.
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # Failed logins and lockouts are warnings; axes' INFO lines (each login, each clean-up) are noise.
        "axes": {"level": "WARNING"},
        # WeasyPrint logs each step of every PDF at INFO: seven lines a PDF say nothing an operator needs.
        "weasyprint.progress": {"level": "WARNING"},
        # Start-up and listening lines stay visible whatever LOG_LEVEL says.
        "daphne.server": {"level": "INFO"},
        "daphne.cli": {"level": "INFO"},
    },
}

# Mail: only with EMAIL_HOST set is there a way to send a password-reset link, and only then is
# password reset routed (config/urls.py); without it an administrator sets a new password in /admin/.
EMAIL_HOST = env_str("EMAIL_HOST")
MAIL_CONFIGURED = bool(EMAIL_HOST)
if MAIL_CONFIGURED:
    EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
    EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
    DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "webmaster@localhost")

# Base URL for links made outside a request (create_session).
PUBLIC_URL = env_str("PUBLIC_URL", "http://127.0.0.1:8000")

# Archives for research: a session is archived when it closes, or after this much idleness.
ARCHIVE_IDLE_HOURS = env_int("ARCHIVE_IDLE_HOURS", 12, minimum=1)
# Groups and sessions smaller than this show research staff medians and counts only.
ARCHIVE_MIN_GROUP = env_int("ARCHIVE_MIN_GROUP", 3, minimum=1)
# A reference (references.py) is published only when at least this many sessions count in it.
REFERENCE_MIN_SESSIONS = env_int("REFERENCE_MIN_SESSIONS", 10, minimum=1)
# A group with fewer answers than this on a slider shows its count only, in every view and download.
MIN_GROUP_SHOWN = env_int("MIN_GROUP_SHOWN", 3, minimum=1)
# How long archives live; `manage.py purge_archives` deletes older ones.
ARCHIVE_RETENTION_DAYS = env_int("ARCHIVE_RETENTION_DAYS", 5 * 365, minimum=1)
# How long a closed session keeps its participants, positions, notes and group names after it was
# archived; `manage.py purge_archives` deletes them (the archive keeps only pseudonyms).
SESSION_RETENTION_DAYS = env_int("SESSION_RETENTION_DAYS", 30, minimum=1)
