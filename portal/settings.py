"""Skyport settings: everything that differs between machines comes from the environment."""
from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("SKYPORT_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


TESTING = "pytest" in sys.modules or os.environ.get("SKYPORT_TESTING") == "1"
# Off unless asked for: no debug page (URL list, traceback with settings) for anyone by default.
DEBUG = env_bool("DJANGO_DEBUG", False)
# The demo (`make run` turns it on): seeds the demo/demo and admin/admin accounts and may keep a
# generated secret key under var/. A deployment leaves it off.
SKYPORT_DEMO = env_bool("SKYPORT_DEMO", DEBUG)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if SKYPORT_DEMO and not DEBUG:
        # A random key made once per checkout (var/secret-key, mode 0600): the demo's sessions
        # survive a restart, and no two installations share a key.
        key_file = VAR_DIR / "secret-key"
        if not key_file.exists():
            import secrets

            try:
                fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process of the same run made it first
                pass
            else:
                with os.fdopen(fd, "w") as fh:
                    fh.write(secrets.token_urlsafe(50))
        SECRET_KEY = key_file.read_text().strip()
    elif DEBUG or TESTING:
        SECRET_KEY = "django-insecure-skyport-development-only"  # noqa: S105 - dev/test only
    else:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off (outside the demo).")

ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",
    "provisioning",
    "portal",
    "portal.web",
    "portal.console",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "portal.ec2.middleware.Ec2EndpointMiddleware",  # /ec2/ answers here: none of the rest is for it
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a login lockout into the portal's 429 page
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

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
                "portal.web.private_keys.private_keys",
                "portal.context.portal_settings",
            ],
        },
    },
]

# --- Database: SQLite file under var/ by default, anything dj-database-url parses otherwise.
DEFAULT_SQLITE = f"sqlite:///{VAR_DIR / 'skyport.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(os.environ.get("DATABASE_URL", DEFAULT_SQLITE), conn_max_age=0)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and beat share the file: WAL lets readers run beside one writer, IMMEDIATE
    # transactions take the write lock up front (no deadlock on lock upgrade), and the timeout
    # makes a busy writer wait instead of failing.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    # A file (not :memory:) so that a real Celery worker process sees the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
else:
    # Keep server connections across requests and tasks (checked before reuse): the placement
    # statements are prepared per connection (provisioning.db), and a connection costs a fork.
    DATABASES["default"]["CONN_MAX_AGE"] = int(os.environ.get("SKYPORT_DB_CONN_MAX_AGE", "60"))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    test_name = os.environ.get("SKYPORT_TEST_DB_NAME")
    if test_name:
        DATABASES["default"]["TEST"] = {"NAME": test_name}

# Prepare the placement statements on PostgreSQL (provisioning.db). Turn off behind a pooler in
# transaction mode that does not carry prepared statements between server connections.
SKYPORT_DB_PREPARE = os.environ.get("SKYPORT_DB_PREPARE", "1") not in ("0", "false", "no", "")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns when it is missing
WHITENOISE_USE_FINDERS = True  # serve straight from static/ and app dirs without collectstatic

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "marketplace"
LOGOUT_REDIRECT_URL = "marketplace"

# --- Redis and Celery
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
SKYPORT_SIM_SPEED = float(os.environ.get("SKYPORT_SIM_SPEED", "1.0"))
if SKYPORT_SIM_SPEED < 0:
    raise ImproperlyConfigured("SKYPORT_SIM_SPEED must be >= 0 (1.0 = real time, 0 = instant).")
# Longest countdown we ever schedule (seconds); the broker's visibility timeout must exceed it, or
# Redis would hand a waiting step to a second worker. A killed worker's message comes back only after
# that timeout, so recovery does not wait for it: the reconciler (beat) re-drives overdue steps within
# a minute, and every step is idempotent, so a late redelivery is a no-op.
SKYPORT_MAX_COUNTDOWN_S = 900
# Seconds a step may run late past its countdown (plus half the countdown) before the reconciler
# re-sends it (provisioning.pipeline.engine.step_grace_s).
SKYPORT_STEP_GRACE_S = float(os.environ.get("SKYPORT_STEP_GRACE_S", "15"))

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": SKYPORT_MAX_COUNTDOWN_S * 2}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_TIME_LIMIT = 120
CELERY_TASK_SOFT_TIME_LIMIT = 100
# Celery's Django fixup closes the database connection after every task unless this is set, which on
# PostgreSQL forks a server backend per pipeline step. Instead the worker treats tasks as the web treats
# requests (portal.celery): CONN_MAX_AGE and the health check decide, and this only bounds a connection's life.
CELERY_DB_REUSE_MAX = 10_000
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("SKYPORT_CELERY_QUEUE", "skyport")
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# --- REST API
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "portal.api.authentication.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "portal.api.pagination.Pagination",
    "PAGE_SIZE": 25,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Skyport API",
    "DESCRIPTION": "Self-service private cloud: marketplace, instances, key pairs.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Two choice sets share the field name `state` (instances, hosts): name each enum.
    "ENUM_NAME_OVERRIDES": {
        "InstanceStateEnum": "provisioning.choices.InstanceState",
        "HostStateEnum": "provisioning.choices.HostState",
        "MigrationStatusEnum": "provisioning.choices.MigrationStatus",
        "MaintenanceStatusEnum": "provisioning.choices.MaintenanceStatus",
        "BalancingModeEnum": "provisioning.choices.BalancingMode",
    },
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "portal.api.schema.add_common_responses"],
}

# --- Prometheus: a scraper may send `Authorization: Bearer <token>` (else a staff session or token).
SKYPORT_METRICS_TOKEN = os.environ.get("SKYPORT_METRICS_TOKEN", "")
# --- EC2 Query API (portal/ec2/): the region boto3/awscli sign for (region_name / --region), and how
# long a terminated instance stays in Describe* answers (EC2: about an hour).
SKYPORT_EC2_REGION = os.environ.get("SKYPORT_EC2_REGION", "us-east-1")
SKYPORT_EC2_TERMINATED_VISIBLE_S = int(os.environ.get("SKYPORT_EC2_TERMINATED_VISIBLE_S", "3600"))

# --- Workload balancing (provisioning.services.balancing): DRS-like threshold level 1 (only a badly skewed
# fleet) .. 5 (any gain); at most max_moves per run; a guest migrated within cooldown_s stays put (Xen
# Orchestra: 30 min); a move must remove more "GiB of imbalance" than cost_factor x the GiB it copies.
# mode "automatic": Celery beat applies the recommendations every interval_s (DRS ran every 5 min).
SKYPORT_BALANCING = {
    "mode": os.environ.get("SKYPORT_BALANCING_MODE", "manual"),
    "threshold": int(os.environ.get("SKYPORT_BALANCING_THRESHOLD", "3")),
    "max_moves": int(os.environ.get("SKYPORT_BALANCING_MAX_MOVES", "4")),
    "cooldown_s": float(os.environ.get("SKYPORT_BALANCING_COOLDOWN_S", "1800")),
    "interval_s": float(os.environ.get("SKYPORT_BALANCING_INTERVAL_S", "300")),
    "cost_factor": float(os.environ.get("SKYPORT_BALANCING_COST_FACTOR", "1.0")),
}
if SKYPORT_BALANCING["mode"] not in ("manual", "automatic"):
    raise ImproperlyConfigured("SKYPORT_BALANCING_MODE must be manual or automatic.")
if not 1 <= SKYPORT_BALANCING["threshold"] <= 5:
    raise ImproperlyConfigured("SKYPORT_BALANCING_THRESHOLD must be a level from 1 to 5.")

# --- Skyport domain defaults
# A new account's quota (Nova's defaults: 10 instances, 20 cores, 50 GiB of memory); operators raise it per user.
SKYPORT_DEFAULT_QUOTA = {
    "instances": int(os.environ.get("SKYPORT_QUOTA_INSTANCES", "10")),
    "vcpus": int(os.environ.get("SKYPORT_QUOTA_VCPUS", "20")),
    "memory_mib": int(float(os.environ.get("SKYPORT_QUOTA_MEMORY_GIB", "50")) * 1024),
}
SKYPORT_USER_DATA_MAX_BYTES = 16 * 1024
# A new key pair's private key waits (sealed, in the cache, never in the database) this long for its
# one download.
SKYPORT_PRIVATE_KEY_TTL_S = int(os.environ.get("SKYPORT_PRIVATE_KEY_TTL_S", "900"))
# Tenants see an instance's availability zone, not the hypervisor host's name (as in OpenStack).
SKYPORT_SHOW_HOSTS_TO_TENANTS = env_bool("SKYPORT_SHOW_HOSTS_TO_TENANTS", False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("SKYPORT_LOG_LEVEL", "WARNING")},
    "loggers": {"skyport": {"level": os.environ.get("SKYPORT_LOG_LEVEL", "INFO")}},
}

# Periodic work (Celery beat): the reconciler re-drives stuck pipeline steps.
CELERY_BEAT_SCHEDULE = {
    "reconcile-stuck-steps": {"task": "provisioning.reconcile", "schedule": 15.0},
    "balance-fleet": {"task": "provisioning.balance", "schedule": SKYPORT_BALANCING["interval_s"]},
}
REST_FRAMEWORK["EXCEPTION_HANDLER"] = "portal.api.exceptions.exception_handler"
# Placement weighers (provisioning.placement.weighers): name -> multiplier, 0 switches one off.
# Positive free_memory / free_vcpu spread guests over the emptiest hosts; negative ones stack them.
SKYPORT_WEIGHERS = {"free_memory": 1.0, "free_vcpu": 0.5, "image_cache": 0.6, "page_sharing": 0.3, "soft_affinity": 2.0}
# Live migration (provisioning.services.migrations). Defaults from Nova and KubeVirt.
SKYPORT_MIGRATION_DOWNTIME_MS = 500.0  # Nova live_migration_downtime
SKYPORT_MIGRATION_AUTO_CONVERGE = False  # Nova live_migration_permit_auto_converge
SKYPORT_MIGRATION_COMPLETION_TIMEOUT_PER_GIB_S = 800.0  # Nova live_migration_completion_timeout (simulated s)
SKYPORT_MIGRATION_PROGRESS_TIMEOUT_S = 150.0  # KubeVirt progressTimeout: no shrinking of what is left to copy
SKYPORT_MIGRATION_SLOTS = 0  # concurrent migrations per host; 0 = by its link (4 on 1 GbE, 8 on 10 GbE)
SKYPORT_MIGRATION_PREPARE_S = 2.0  # simulated set-up of the destination
SKYPORT_MIGRATION_QUEUE_POLL_S = 10.0  # a queued migration re-checks its slots (simulated s) ...
SKYPORT_MIGRATION_QUEUE_POLL_WAIT_S = 2.0  # ... but never sooner than this many real seconds

# --- Security (README "Deploying"): HTTPS behind a TLS-terminating proxy, CSP, login lockout,
# API throttles, sign-up. Everything from the environment; `check --deploy` is clean with
# DJANGO_DEBUG=0, a DJANGO_SECRET_KEY, DJANGO_ALLOWED_HOSTS and SKYPORT_HTTPS=1.
SKYPORT_HTTPS = env_bool("SKYPORT_HTTPS", False)
_proxy_header = os.environ.get("DJANGO_SECURE_PROXY_SSL_HEADER", "HTTP_X_FORWARDED_PROTO" if SKYPORT_HTTPS else "")
SECURE_PROXY_SSL_HEADER = (_proxy_header, "https") if _proxy_header else None
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", SKYPORT_HTTPS)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SESSION_COOKIE_SECURE", SKYPORT_HTTPS)
CSRF_COOKIE_SECURE = env_bool("DJANGO_CSRF_COOKIE_SECURE", SKYPORT_HTTPS)
SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_SECURE_HSTS_SECONDS", str(365 * 24 * 3600) if SKYPORT_HTTPS else "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", SKYPORT_HTTPS)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", SKYPORT_HTTPS)
# How many proxies in front of the portal append to X-Forwarded-For (0: use the peer address).
# Trusting the header without a proxy would let a client choose its own address for the lockout.
SKYPORT_PROXY_COUNT = int(os.environ.get("SKYPORT_PROXY_COUNT", "0"))
REST_FRAMEWORK["NUM_PROXIES"] = SKYPORT_PROXY_COUNT or None

# The portal's own 400/403/404/413/500 pages: handler400... in portal.urls, and the CSRF failure page.
CSRF_FAILURE_VIEW = "portal.errors.csrf_failure"

# Content-Security-Policy (django-csp): scripts and styles only from the portal itself (htmx and
# Swagger UI are vendored). Inline style *attributes* stay allowed (the templates use a few for
# layout); inline <script> and <style> elements, eval and other origins do not.
from csp.constants import NONE, SELF, UNSAFE_INLINE  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "style-src-attr": [UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
        "object-src": [NONE],
        **({"upgrade-insecure-requests": True} if SKYPORT_HTTPS else {}),
    },
}

# Login lockout (django-axes), on /login/, the admin login and the API token endpoint: after
# SKYPORT_LOGIN_FAILURES wrong passwords in a row for one user from one address, the next attempt,
# right or wrong, is refused (429) for SKYPORT_LOGIN_LOCKOUT_MINUTES.
SKYPORT_LOGIN_FAILURES = int(os.environ.get("SKYPORT_LOGIN_FAILURES", "5"))
AUTHENTICATION_BACKENDS = ["portal.auth.LockoutBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = SKYPORT_LOGIN_FAILURES + 1  # axes locks out on the failure that reaches the limit
AXES_COOLOFF_TIME = timedelta(minutes=float(os.environ.get("SKYPORT_LOGIN_LOCKOUT_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True  # "in a row": a right password starts the count again
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False  # the lockout ends when it said it would
AXES_LOCKOUT_CALLABLE = "portal.auth.lockout_response"
AXES_CLIENT_IP_CALLABLE = "portal.auth.client_ip"
AXES_DISABLE_ACCESS_LOG = True  # failures are kept, not a row per successful login
AXES_VERBOSE = False  # the lockout itself is logged by portal.auth

# API throttles: one rate per user (all of a user's tokens and sessions together), one per address
# for anonymous calls (the token endpoint). DRF rate strings, `N/s|min|hour|day`, optionally with a
# count of periods (`100/10s`). The EC2 API counts the same rate per access key (RequestLimitExceeded).
SKYPORT_API_RATE = os.environ.get("SKYPORT_API_RATE", "600/min")
SKYPORT_API_ANON_RATE = os.environ.get("SKYPORT_API_ANON_RATE", "60/min")
REST_FRAMEWORK["DEFAULT_THROTTLE_CLASSES"] = ["portal.api.throttling.ApiRateThrottle"]
# API tokens expire this many hours after they were issued (listed and revoked at /api/v1/auth/tokens/).
SKYPORT_API_TOKEN_TTL_HOURS = float(os.environ.get("SKYPORT_API_TOKEN_TTL_HOURS", "168"))

# Throttle counters live in a cache every web process shares: Redis (the broker's server, its own
# key prefix). The tests use a per-process memory cache instead (one process, cleared per test).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "skyport-cache",
        "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
    }
}
if TESTING:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Sign-up: off (operators create accounts), approval (anyone may ask; staff activate the account
# in the admin before it can log in or launch), open (anyone, at once, with the default quota).
SKYPORT_SIGNUP = os.environ.get("SKYPORT_SIGNUP", "off").strip().lower()
if SKYPORT_SIGNUP not in {"off", "approval", "open"}:
    raise ImproperlyConfigured("SKYPORT_SIGNUP must be off, approval or open.")
SKYPORT_SIGNUP_RATE = os.environ.get("SKYPORT_SIGNUP_RATE", "10/hour")  # accounts created per address
