"""CityGrid settings: everything deployment-specific comes from environment variables.

Defaults are safe for a developer's machine (DEBUG on, local database over the Unix socket); the README
lists every variable. Production sets DEBUG=0, SECRET_KEY, ALLOWED_HOSTS and DATABASE_URL (the runtime role), and
DATABASE_OWNER_URL where migrations run.
"""

import json
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.gis",
    "rest_framework",
    "rest_framework_gis",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "leaflet",
    "axes",
    "csp",
    "django_ratelimit",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "citygrid",
    "grids",
    "assets",
    "incidents",
    "dispatch",
    "monitoring",
    "alerts",
    "emergency",
    "gazetteer",
    "tiles",
    "frontend",
    "ogc",
]

MIDDLEWARE = [
    "citygrid.requestid.TrustedProxyMiddleware",
    "citygrid.requestid.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "citygrid.middleware.NoStoreMiddleware",
    "citygrid.middleware.ChineseFirstLocaleMiddleware",
    "citygrid.parsers.InputGuardMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "citygrid.audit.AuditContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
    "django_ratelimit.middleware.RatelimitMiddleware",
    "citygrid.middleware.PasswordChangeRequiredMiddleware",
    "citygrid.middleware.SecondFactorRequiredMiddleware",
    "citygrid.middleware.DatabaseUnavailableMiddleware",
    "citygrid.replicas.ReplicaMiddleware",
]

ROOT_URLCONF = "citygrid.urls"
WSGI_APPLICATION = "citygrid.wsgi.application"
ASGI_APPLICATION = "citygrid.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Three database roles (citygrid/dbroles.py, README "Security"): the application serves as the runtime role of
# DATABASE_URL (no superuser, owns nothing, granted only what it does); migrations run as the owner of
# DATABASE_OWNER_URL, which holds the schema; backups read as DATABASE_BACKUP_URL's role. The defaults reach
# the local server over its Unix socket; the owner and backup URLs default to DATABASE_URL's database and
# server with their own role names (roles are cluster-wide: set the URLs to give one deployment its own).
DEFAULT_DATABASE_URL = "postgis://citygrid_app@%2Fvar%2Frun%2Fpostgresql/citygrid"


def _with_user(url: str, user: str) -> str:
    """`url` connecting as `user` (without a password) to the same server and database."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{user}@{parts.netloc.rpartition('@')[2]}"))


DATABASE_URL = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
DATABASE_OWNER_URL = os.environ.get("DATABASE_OWNER_URL") or _with_user(DATABASE_URL, "citygrid_owner")
DATABASE_BACKUP_URL = os.environ.get("DATABASE_BACKUP_URL") or _with_user(DATABASE_URL, "citygrid_backup")
DATABASES = {
    "default": dj_database_url.parse(
        DATABASE_URL,
        engine="django.contrib.gis.db.backends.postgis",
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "600")),
        conn_health_checks=True,
    )
}
DATABASES["default"]["ENGINE"] = "django.contrib.gis.db.backends.postgis"
# JIT compilation costs hundreds of milliseconds on the short spatial queries this application runs and
# never pays back on them. Statements the application prepares itself (grids.locate) keep one generic plan.
DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=off -c plan_cache_mode=force_generic_plan"
# Only the credentials of these two are used, always on DATABASES["default"]'s database (also the test one).
DATABASE_OWNER = dj_database_url.parse(DATABASE_OWNER_URL)
DATABASE_BACKUP = dj_database_url.parse(DATABASE_BACKUP_URL)
for _url_name, _parsed in (("DATABASE_OWNER_URL", DATABASE_OWNER), ("DATABASE_BACKUP_URL", DATABASE_BACKUP)):
    if _parsed["NAME"] != DATABASES["default"]["NAME"]:
        raise ImproperlyConfigured(f"{_url_name} must name the database of DATABASE_URL "
                                   f"({DATABASES['default']['NAME']}), not {_parsed['NAME']}")
# Streaming replicas for the heavy reads (citygrid/replicas.py, README "Growth"): DATABASE_REPLICA_URL holds
# one or more URLs, separated by commas or spaces, each a hot standby of DATABASE_URL's server (same database
# name, same runtime role). With none, every read goes to the primary as before.
REPLICA_URLS = (os.environ.get("DATABASE_REPLICA_URL") or "").replace(",", " ").split()
for _i, _url in enumerate(REPLICA_URLS, start=1):
    _replica = dj_database_url.parse(_url, engine="django.contrib.gis.db.backends.postgis",
                                     conn_max_age=DATABASES["default"]["CONN_MAX_AGE"], conn_health_checks=True)
    _replica["ENGINE"] = "django.contrib.gis.db.backends.postgis"
    _replica["OPTIONS"] = dict(DATABASES["default"]["OPTIONS"])
    _replica["TEST"] = {"MIRROR": "default"}  # the test runner makes no database there
    DATABASES[f"replica{_i}"] = _replica
DATABASE_ROUTERS = ["citygrid.replicas.ReplicaRouter"]
# A user who wrote reads the primary for this long (a replica normally replays within a second).
READ_YOUR_WRITES_SECONDS = int(os.environ.get("READ_YOUR_WRITES_SECONDS", "15"))
# A replica that did not answer is left alone for this long before it is tried again.
REPLICA_RETRY_SECONDS = int(os.environ.get("REPLICA_RETRY_SECONDS", "30"))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "citygrid.passwords.ComplexityValidator"},
    {"NAME": "citygrid.passwords.HistoryValidator",
     "OPTIONS": {"remember": int(os.environ.get("PASSWORD_HISTORY", "5"))}},
]
# Demo and initial passwords must be changed at the first login outside DEBUG.
FORCE_PASSWORD_CHANGE = env_bool("FORCE_PASSWORD_CHANGE", not DEBUG)
# Failed logins (django-axes, maintained, stores attempts in the database): after LOGIN_FAILURE_LIMIT
# failures a user name *from one address*, and separately an address whatever the names, is locked out until
# the security administrator unlocks it in the admin (Axes › access attempts) or LOGIN_LOCKOUT_MINUTES pass.
# Not the name alone: anyone who knows a name (inspectors' names are on the cell pages) could then keep its
# owner locked out for ever from anywhere. Guessing one name from many addresses meets the per-address
# locks and the per-address rate limit (LOGIN_RATE). Attempts and lockouts are logged.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
_lockout_minutes = int(os.environ.get("LOGIN_LOCKOUT_MINUTES", "30"))
AXES_COOLOFF_TIME = timedelta(minutes=_lockout_minutes) if _lockout_minutes > 0 else None  # None: until unlocked
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
# Second factor (TOTP via django-otp, with recovery codes): required for these roles; outside DEBUG by
# default for every role that administers, commands or judges. OTP_REQUIRED_ROLES="" turns it off.
OTP_REQUIRED_ROLES = env_list("OTP_REQUIRED_ROLES", "" if DEBUG else "admin,secadmin,auditor,dispatcher,leader")
OTP_TOTP_ISSUER = os.environ.get("OTP_ISSUER", "CityGrid")
# The audit trail is kept at least this long (等保: ≥ 6 months); the database refuses to delete younger rows.
AUDIT_RETENTION_DAYS = int(os.environ.get("AUDIT_RETENTION_DAYS", "180"))
if AUDIT_RETENTION_DAYS < 180:
    raise ImproperlyConfigured("AUDIT_RETENTION_DAYS must be at least 180")
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "frontend:home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "citygrid" / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "var" / "static"))
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "var" / "media"))
# Where photos and issued bulletins are kept. The code reads and writes them only through Django's storage API
# (field.save / field.open, never a local path), so the backend is a setting: MEDIA_STORAGE names a storage
# class, MEDIA_STORAGE_OPTIONS (JSON) its options. The default, and the only backend the tests exercise, is the
# file system under MEDIA_ROOT. With several web hosts each must see every file another wrote: MEDIA_ROOT is
# then one shared mount (NFS or the like), the same path on every host (tests/test_shared_media.py). No options
# by default on purpose: FileSystemStorage given no location follows MEDIA_ROOT, also when a test changes it.
# The backups (citygrid/backup.py, `pitr backup-media`) copy the MEDIA_ROOT folder: another backend needs
# backups of its own.
MEDIA_STORAGE = os.environ.get("MEDIA_STORAGE") or "django.core.files.storage.FileSystemStorage"
try:
    MEDIA_STORAGE_OPTIONS = json.loads(os.environ.get("MEDIA_STORAGE_OPTIONS") or "{}")
except ValueError as _exc:
    raise ImproperlyConfigured(f"MEDIA_STORAGE_OPTIONS is not JSON: {_exc}") from None
if not isinstance(MEDIA_STORAGE_OPTIONS, dict):
    raise ImproperlyConfigured("MEDIA_STORAGE_OPTIONS must be a JSON object")
STORAGES = {
    "default": {"BACKEND": MEDIA_STORAGE, **({"OPTIONS": MEDIA_STORAGE_OPTIONS} if MEDIA_STORAGE_OPTIONS else {})},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "citygrid.authentication.HashedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated",
                                   "citygrid.policy.PolicyPermission"],
    "DEFAULT_PARSER_CLASSES": ["citygrid.parsers.JSONParser", "rest_framework.parsers.FormParser",
                               "rest_framework.parsers.MultiPartParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "citygrid.audit.exception_handler",
    # The browsable HTML API is a developer's convenience; production answers JSON only.
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 100,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "CityGrid API",
    "DESCRIPTION": "Grid-based urban management: areas, unit grid cells, bureaus and location lookup.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated", "citygrid.policy.PolicyPermission"],
    "ENUM_NAME_OVERRIDES": {"BureauKindEnum": "grids.models.Bureau.Kind", "CategoryKindEnum": "incidents.models.Kind",
                            "WarningLevelEnum": "alerts.models.WarningLevel"},
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "citygrid.openapi.add_error_responses"],
}

# Base-map tiles. Tianditu (CGCS2000, ≈ WGS84) needs a key: see the README. TILE_DATUM says which datum
# the tiles are drawn in; a GCJ-02 source (AMap, Tencent) makes the pages shift what they draw, never
# what is stored.
TILE_URL = os.environ.get("TILE_URL", "https://tile.openstreetmap.org/{z}/{x}/{y}.png")
TILE_ATTRIBUTION = os.environ.get("TILE_ATTRIBUTION", "© OpenStreetMap contributors")
TILE_DATUM = os.environ.get("TILE_DATUM", "wgs84").lower()
# The pages draw the cells and the census from the product's vector tiles (tiles/); 0: from GeoJSON, as before.
VECTOR_TILES = os.environ.get("VECTOR_TILES", "1") == "1"
LEAFLET_CONFIG = {
    "DEFAULT_CENTER": (27.857, 112.925),
    "DEFAULT_ZOOM": 12,
    "MIN_ZOOM": 3,
    "MAX_ZOOM": 19,
    "TILES": [(_("Base map"), TILE_URL, {"attribution": TILE_ATTRIBUTION, "maxZoom": 19})],
    "SCALE": "metric",
    "ATTRIBUTION_PREFIX": "CityGrid",
    "RESET_VIEW": False,
}

# Content Security Policy: scripts only from the project itself (and the admin map widget's nonce'd
# initialisation), never inline; images also from the tile server. Inline styles stay allowed (Leaflet and
# the admin set a few); they cannot run code.
def _origin(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url.replace("{s}", "*").replace("{z}", "0").replace("{x}", "0").replace("{y}", "0"))
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


from csp.constants import NONCE, NONE, SELF  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, "'unsafe-inline'"],
        "img-src": [SELF, "data:", "blob:", *filter(None, [_origin(TILE_URL)])],  # blob: photo previews
        "connect-src": [SELF],
        "font-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# The grid. Code widths follow GB/T 30428 / CJ/T 213: county (GB/T 2260) + street + community + cell.
GRID_CODE_WIDTHS = tuple(int(w) for w in env_list("GRID_CODE_WIDTHS", "6,3,3,3"))
GRID_CELL_SIZE_M = float(os.environ.get("GRID_CELL_SIZE_M", "100"))
# Components (assets): code widths (county, class, subclass, sequence); the map shows them from this zoom,
# at most this many per view.
COMPONENT_CODE_WIDTHS = tuple(int(w) for w in env_list("COMPONENT_CODE_WIDTHS", "6,2,2,6"))
COMPONENT_MIN_ZOOM = int(os.environ.get("COMPONENT_MIN_ZOOM", "16"))
COMPONENT_MAP_MAX = int(os.environ.get("COMPONENT_MAP_MAX", "5000"))
# A component picked for a report must lie this near it (the inspector stands by the object).
COMPONENT_PICK_MAX_M = float(os.environ.get("COMPONENT_PICK_MAX_M", "100"))
# Routing: the bureau in charge of a case's component wins over the area rules, except rules marked to win.
ROUTE_BY_COMPONENT = env_bool("ROUTE_BY_COMPONENT", True)
# Stored geometry is WGS84 (EPSG:4326); CGCS2000 (EPSG:4490) input is transformed to it on import.
GRID_STORAGE_SRID = 4326
GRID_LOCATE_BATCH_MAX = int(os.environ.get("GRID_LOCATE_BATCH_MAX", "100000"))
# Where the hotline desk finds a place by name: the grid's own names, and an address gazetteer once there is
# one (grids.places: dotted paths of search functions, asked in order).
GRID_PLACE_SOURCES = env_list("GRID_PLACE_SOURCES", "grids.places.grid_names,gazetteer.places.addresses")

# Rate limits (django-ratelimit) count in Redis, shared by every worker. Redis down: requests go on
# unlimited (fail open) rather than fail; REDIS_URL=off keeps the counts in each process's memory.
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/1")


def caches_for(redis_url: str) -> dict:
    """The cache setting for a Redis URL (or "off"): one function, so tests exercise the production setting."""
    if redis_url == "off":
        return {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    return {"default": {"BACKEND": "citygrid.cache.ForgivingRedisCache", "LOCATION": redis_url,
                        "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2}}}


CACHES = caches_for(REDIS_URL)
RATELIMIT_FAIL_OPEN = True
RATELIMIT_VIEW = "citygrid.views.rate_limited"
LOGIN_RATE = os.environ.get("LOGIN_RATE", "20/m")  # login attempts per address
OPEN311_RATE = os.environ.get("OPEN311_RATE", "60/m")  # Open311 requests per api_key (POST) or address (GET)

# Cases and photos.
CASE_DESCRIPTION_MAX = int(os.environ.get("CASE_DESCRIPTION_MAX", "2000"))
PHOTO_MAX_BYTES = int(os.environ.get("PHOTO_MAX_BYTES", str(10 * 1024 * 1024)))
PHOTO_MAX_PIXELS = int(os.environ.get("PHOTO_MAX_PIXELS", str(40_000_000)))
PHOTO_MAX_COUNT = int(os.environ.get("PHOTO_MAX_COUNT", "6"))
DUPLICATE_RADIUS_M = float(os.environ.get("DUPLICATE_RADIUS_M", "50"))
DUPLICATE_WINDOW_HOURS = float(os.environ.get("DUPLICATE_WINDOW_HOURS", "72"))
# The evaluation ranks a bureau, district, street or cell only with at least this many cases due in the period: a
# street office with one case closed on time (100 points) is not placed above a bureau with hundreds. Those with
# fewer are listed after the ranked ones, with their figures and no rank.
EVALUATION_RANK_MIN_DUE = int(os.environ.get("EVALUATION_RANK_MIN_DUE", "5"))
NEAR_DUE_HOURS = float(os.environ.get("NEAR_DUE_HOURS", "2"))
UNIT_POSITION_MAX_AGE_S = int(os.environ.get("UNIT_POSITION_MAX_AGE_S", "300"))
# How often a crew's phone shares its position while on duty and its page is open (well under the age above).
UNIT_POSITION_SECONDS = int(os.environ.get("UNIT_POSITION_SECONDS", "20"))
FEED_STREAM_SECONDS = int(os.environ.get("FEED_STREAM_SECONDS", "25"))
FEED_POLL_SECONDS = float(os.environ.get("FEED_POLL_SECONDS", "1"))
# Open live-feed streams: per user across all processes, and per process (its threads less two, so that
# health checks and ordinary requests always find a free thread). THREADS is gunicorn's (Makefile).
FEED_STREAMS_PER_USER = int(os.environ.get("FEED_STREAMS_PER_USER", "3"))
FEED_STREAMS_PER_PROCESS = int(os.environ.get("FEED_STREAMS_PER_PROCESS",
                                              str(max(1, int(os.environ.get("THREADS", "8")) - 2))))
WATCH_INTERVAL_SECONDS = int(os.environ.get("WATCH_INTERVAL_SECONDS", "60"))
# Several schedulers may run (one per web host): one acts, the others check every this many seconds whether
# they should take over (dispatch/scheduler_lock.py).
SCHEDULER_STANDBY_SECONDS = float(os.environ.get("SCHEDULER_STANDBY_SECONDS", "5"))
OPEN311_JURISDICTION_ID = os.environ.get("OPEN311_JURISDICTION_ID", "xiangtan.gov.cn")
CASE_NUMBER_PREFIX = os.environ.get("CASE_NUMBER_PREFIX", "")
# The hotline desk and the public (issue 22, part B): callbacks (回访) of cases closed this many days back, until a
# call reaches the caller or this many calls did not; reports from the public web page per address, and the
# public pages' reads (the map, tracking) per address; Open311 service discovery's human-readable fields.
CALLBACK_WINDOW_DAYS = int(os.environ.get("CALLBACK_WINDOW_DAYS", "14"))
CALLBACK_MAX_ATTEMPTS = int(os.environ.get("CALLBACK_MAX_ATTEMPTS", "3"))
PUBLIC_REPORT_RATE = os.environ.get("PUBLIC_REPORT_RATE", "20/h")
PUBLIC_READ_RATE = os.environ.get("PUBLIC_READ_RATE", "120/m")
OPEN311_CONTACT = os.environ.get("OPEN311_CONTACT", "湘潭市数字化城市管理监督指挥中心 12319")
OPEN311_KEY_SERVICE = os.environ.get("OPEN311_KEY_SERVICE",
                                     "向指挥中心的安全管理员申请 api_key（manage.py issue_open311_key）")
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# Early warning (预警): CAP 1.2's <sender>, globally unique and stable (a domain name; no spaces, commas, < or &).
# It prefixes every warning's CAP identifier, so it is not changed once warnings are published.
CAP_SENDER = os.environ.get("CAP_SENDER", "warnings.xiangtan.citygrid")

DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("DATA_UPLOAD_MAX_MEMORY_SIZE", str(16 * 1024 * 1024)))
# A request carries at most the photos one report or action may have: more files are refused while parsing
# (400), before anything is decoded.
DATA_UPLOAD_MAX_NUMBER_FILES = PHOTO_MAX_COUNT

# Idle sessions end: every request pushes the expiry forward, SESSION_IDLE_MINUTES of no activity ends it.
SESSION_COOKIE_AGE = int(os.environ.get("SESSION_IDLE_MINUTES", "30")) * 60
SESSION_SAVE_EVERY_REQUEST = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Production serves HTTPS only. Behind a TLS-terminating proxy, set SECURE_PROXY_SSL_HEADER=1 (the proxy must
# set X-Forwarded-Proto); SECURE_SSL_REDIRECT=0 when the proxy redirects itself.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
if env_bool("SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# The supervisor's and the monitoring's probes reach gunicorn over plain HTTP on the loopback, past the proxy.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
# Behind a reverse proxy every request comes from the proxy's address: from these addresses, the client's own
# (X-Real-IP, which nginx sets) becomes REMOTE_ADDR, for the audit trail, the lockouts and the rate limits alike.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", "")
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)

# LOG_LEVEL is the console handler's level too: Django's own "django" logger passes its records (a 404 is a
# django.request WARNING) up to this handler whatever the root's level, so LOG_LEVEL=ERROR would otherwise
# still print every refused request. A 500 is logged at ERROR and always shows.
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
# Every line carries the request's id (X-Request-ID: the proxy's, or made here; "-" outside a request), the
# same id gunicorn's access log and nginx's show. Under systemd the journal adds the time and the unit.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "citygrid.requestid.RequestIdFilter"},
                "refusal": {"()": "citygrid.requestid.RefusalFilter"}},
    "formatters": {"plain": {"format": "%(levelname)s %(name)s [%(request_id)s] %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "level": LOG_LEVEL,
                             "filters": ["request_id", "refusal"], "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
}

# Backups (README, Operations): where the backup jobs record their outcome, and when /readyz calls a backup
# stale (daily differential backups; the photos every ten minutes).
BACKUP_STATUS_DIR = Path(os.environ.get("BACKUP_STATUS_DIR", BASE_DIR / "var" / "backup-status"))
BACKUP_MAX_AGE_HOURS = float(os.environ.get("BACKUP_MAX_AGE_HOURS", "26"))
MEDIA_BACKUP_MAX_AGE_MINUTES = float(os.environ.get("MEDIA_BACKUP_MAX_AGE_MINUTES", "60"))

# Debian 12 ships GDAL 3.6, which cannot block file/network access from spatial reference strings. GDAL
# parses only files that administrators import (import_areas); no request reaches GDAL with user input.
# django-ratelimit knows django-redis, not Django's own RedisCache, which has the atomic add/incr it needs.
SILENCED_SYSTEM_CHECKS = ["gis.W001", "django_ratelimit.W001"]
if REDIS_URL == "off":  # development without Redis: per-process counts
    SILENCED_SYSTEM_CHECKS += ["django_ratelimit.E003"]

# Lifeline monitoring (monitoring): the product's own Mosquitto, written from the sensor registry (not a
# broker that happens to run on 1883). MQTT_URL is where the ingest and the simulator connect; the set-up
# starts a broker from MQTT_DIR on that port when none answers.
MQTT_URL = os.environ.get("MQTT_URL", "mqtt://127.0.0.1:18831")
MQTT_DIR = Path(os.environ.get("MQTT_DIR", str(BASE_DIR / "var" / "mosquitto")))
MQTT_INGEST_USER = os.environ.get("MQTT_INGEST_USER", "citygrid-ingest")
INGEST_BATCH_MAX = int(os.environ.get("INGEST_BATCH_MAX", "2000"))  # readings in one INSERT
INGEST_BATCH_SECONDS = float(os.environ.get("INGEST_BATCH_SECONDS", "0.2"))  # longest a reading waits for its batch
INGEST_FUTURE_SECONDS = int(os.environ.get("INGEST_FUTURE_SECONDS", "300"))  # a clock this far ahead is refused
SENSOR_MAP_MAX = int(os.environ.get("SENSOR_MAP_MAX", "3000"))  # sensors in one map view (alarms first)
READINGS_RAW_DAYS = int(os.environ.get("READINGS_RAW_DAYS", "400"))  # raw readings kept; rollups for years
# A silent sensor's maintenance case is filed under this subclass (the catalogue's 监测设备故障), routed to its owner.
SENSOR_MAINTENANCE_CATEGORY = os.environ.get("SENSOR_MAINTENANCE_CATEGORY", "SJ0604")
SENSOR_SILENT_INTERVALS = int(os.environ.get("SENSOR_SILENT_INTERVALS", "5"))  # missed intervals → maintenance case
SENSOR_FLAPPING_EPISODES = int(os.environ.get("SENSOR_FLAPPING_EPISODES", "4"))  # episodes in the window → flapping
SENSOR_FLAPPING_WINDOW_S = int(os.environ.get("SENSOR_FLAPPING_WINDOW_S", "3600"))

# The gazetteer (地名地址): reverse geocoding answers the nearest door number within this many metres; the public
# report page's address search, per address; what is dropped from the front of a query besides district and
# street names.
GAZETTEER_REVERSE_MAX_M = float(os.environ.get("GAZETTEER_REVERSE_MAX_M", "500"))
PUBLIC_GEOCODE_RATE = os.environ.get("PUBLIC_GEOCODE_RATE", "60/m")
GAZETTEER_PREFIXES = env_list("GAZETTEER_PREFIXES", "中国,湖南省,湖南,湘潭市,湘潭")
# Open map services (ogc): OGC API – Features under /ogc/ (pygeoapi) and datum conversion under /api/datums/.
OGC_TITLE = os.environ.get("OGC_TITLE", "湘潭市城市网格化管理开放地图服务")
OGC_BASE_URL = os.environ.get("OGC_BASE_URL", "").rstrip("/")  # e.g. https://city.example/ogc; else the request's
OGC_EXTENT = (112.4, 27.2, 113.4, 28.3)  # the collections' extent (CRS84) until the city's boundary is imported
OGC_DEFAULT_ITEMS = int(os.environ.get("OGC_DEFAULT_ITEMS", "100"))
OGC_MAX_ITEMS = int(os.environ.get("OGC_MAX_ITEMS", "1000"))
OGC_PUBLIC_RATE = os.environ.get("OGC_PUBLIC_RATE", "300/m")  # public collections, per address
DATUM_MAX_POINTS = int(os.environ.get("DATUM_MAX_POINTS", "10000"))
# pygeoapi logs every request's parameters at INFO and WARNING; its errors still show.
LOGGING["loggers"] = {**LOGGING.get("loggers", {}), "pygeoapi": {"level": "ERROR"}}
