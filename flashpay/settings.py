"""Settings for FlashPay, read from the environment (django-environ); see .env.example."""
import importlib.util
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_SECRET_KEY = "dev-insecure-change-me"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str("SECRET_KEY", default=DEFAULT_SECRET_KEY)
if not DEBUG and SECRET_KEY == DEFAULT_SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Behind a TLS-terminating proxy (docker/compose.yaml: Caddy): believe its X-Forwarded-Proto, so
# https links, secure redirects and CSRF checks see https. Only when nothing else can reach the
# web port, since a client talking to it directly could claim https.
if env.bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# The public base URL (hosted pages, LNURL callbacks, programming links).
FLASHPAY_BASE_URL = env.str("FLASHPAY_BASE_URL", default="http://127.0.0.1:8000")
# Flash Cards: key-encryption key for issuer keys at rest (64 hex chars = 32 bytes, AES-256-GCM).
DEFAULT_CARD_KEY_ENCRYPTION_KEY = "d3" * 32
CARD_KEY_ENCRYPTION_KEY = env.str("CARD_KEY_ENCRYPTION_KEY", default=DEFAULT_CARD_KEY_ENCRYPTION_KEY)
if not DEBUG and CARD_KEY_ENCRYPTION_KEY == DEFAULT_CARD_KEY_ENCRYPTION_KEY:
    raise ImproperlyConfigured("CARD_KEY_ENCRYPTION_KEY must be set when DEBUG is off")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_q",
    "flashpay",
    "flashpay.accounts",
    "flashpay.ledger",
    "flashpay.events",
    "flashpay.idempotency",
    "flashpay.ratelimit",
    "invoices",
    "invoices.checkout",
    "lightning",
    "cards",
    "rewards",
]

# The development node (devnode/: bitcoind + LND simulators) is an app only in development, where it
# owns `manage.py devnode` (what `make run` starts). It is a top-level package outside the
# installed package and the production image; when DEBUG is off it is never loaded, even if its
# directory happens to be on the path, so production code can never reach the simulator.
if DEBUG and importlib.util.find_spec("devnode") is not None:
    INSTALLED_APPS.append("devnode")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "flashpay.routing.GreenfieldTrailingSlashMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "flashpay.urls"
# Sign-in for every user (store members too), e.g. on the way to /api-keys/authorize.
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/api/docs/"
WSGI_APPLICATION = "flashpay.wsgi.application"
ASGI_APPLICATION = "flashpay.asgi.application"

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

# SQLite when DATABASE_URL is unset (the embedded default of `make run`); PostgreSQL otherwise.
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
    # Let psycopg keep prepared statements. Only server-side-binding cursors use them (the hot
    # paths' statements, flashpay/sql.py); Django's own cursors bind on the client and never do. Turn off behind a pooler that cannot carry them (PgBouncer < 1.21).
    if env.bool("DB_PREPARED_STATEMENTS", default=True):
        DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 5
    # Bind parameters on the server for all of Django's queries, so the prepared statements
    # above serve every repeated query (bench/invoices.py: PostgreSQL CPU per invoice 5.2 ->
    # 3.5 ms). Off by default: PostgreSQL must infer every parameter's type, which some ORM
    # expressions do not allow (Django docs, "Server-side parameters binding").
    if env.bool("DB_SERVER_SIDE_BINDING", default=False):
        DATABASES["default"].setdefault("OPTIONS", {})["server_side_binding"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("fr", "Français"), ("es", "Español")]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="FlashPay <noreply@localhost>")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "flashpay.accounts.authentication.APIKeyAuthentication",
        "flashpay.accounts.authentication.BasicPasswordAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "flashpay.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "FlashPay API",
    "DESCRIPTION": "Greenfield-compatible merchant API and the Flash app API.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Served from the sidecar package: no external CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Greenfield's names for enums that share a field name ("status") across components.
    "ENUM_NAME_OVERRIDES": {
        "InvoiceStatus": "invoices.apis.shapes.INVOICE_STATUSES",
        "InvoiceStatusMark": "invoices.apis.shapes.INVOICE_STATUS_MARKS",
        "InvoiceAdditionalStatus": "invoices.apis.shapes.ADDITIONAL_STATUSES",
        "PaymentStatus": "invoices.apis.shapes.PAYMENT_STATUSES",
    },
}

# django-q2 on the ORM broker: no extra service needed. Redis can take over at high rates.
Q_CLUSTER = {
    "name": "flashpay",
    "orm": "default",
    # django-q2's ORM broker with a lighter enqueue (flashpay/events/broker.py)
    "broker_class": "flashpay.events.broker.DatabaseBroker",
    "workers": env.int("Q_WORKERS", default=2),
    "timeout": 60,
    "retry": 120,
    "max_attempts": 1,
    "catch_up": False,
    "ack_failures": True,
    "poll": 0.5,
}

# Events outbox: seconds to wait before retry n (the last step repeats), and attempts before
# a delivery is given up and waits for an operator's "redeliver" in the admin.
EVENTS_RETRY_DELAYS = env.list("EVENTS_RETRY_DELAYS", cast=int, default=[10, 60, 600])
EVENTS_MAX_ATTEMPTS = env.int("EVENTS_MAX_ATTEMPTS", default=8)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # httpx logs every request at INFO: node polling would drown everything else.
    "loggers": {"httpx": {"level": "WARNING"}},
}

# --- Exchange rates (invoices/rates) ---
# The worker fetches, the web reads: the "rates" cache must be shared by both. Default: files under
# var/ (one machine); several machines: redis://host:6379/1 or dbcache://flashpay_rates_cache
# (after `manage.py createcachetable`).
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "rates": env.cache("RATES_CACHE_URL", default=f"filecache://{BASE_DIR / 'var' / 'rates-cache'}"),
}
RATES_CACHE_ALIAS = "rates"
RATES_CACHE_KEEP_SECONDS = env.int("RATES_CACHE_KEEP_SECONDS", default=86400)
RATES_VALID_SECONDS = env.int("RATES_VALID_SECONDS", default=600)
RATES_HTTP_TIMEOUT = env.float("RATES_HTTP_TIMEOUT", default=5.0)
RATES_SOURCES = env.list("RATES_SOURCES", default=["fixed", "kraken", "bitstamp", "coingecko"])
RATES_CROSS_VIA = env.list("RATES_CROSS_VIA", default=["USD", "EUR", "BTC"])
RATES_FIXED = env.dict("RATES_FIXED", default={})
RATES_KRAKEN_URL = env.str("RATES_KRAKEN_URL", default="https://api.kraken.com")
RATES_KRAKEN_PAIRS = env.list("RATES_KRAKEN_PAIRS", default=["BTC_USD", "BTC_EUR", "BTC_GBP", "BTC_CAD"])
RATES_BITSTAMP_URL = env.str("RATES_BITSTAMP_URL", default="https://www.bitstamp.net")
RATES_BITSTAMP_PAIRS = env.list("RATES_BITSTAMP_PAIRS", default=["BTC_USD", "BTC_EUR", "BTC_GBP"])
RATES_COINGECKO_URL = env.str("RATES_COINGECKO_URL", default="https://api.coingecko.com")

# --- Lightning (lightning/) ---
# FlashPay's node as a BTCPay-style connection string (see .env.example). Default: the devnode's
# LND node "flashpay" as `manage.py devnode` writes it under DEVNODE_LND_DIR.
DEVNODE_LND_DIR = env.path("DEVNODE_LND_DIR", default=BASE_DIR / "var" / "devnode" / "lnd")
LIGHTNING_CONNECTION_STRING = env.str(
    "LIGHTNING_CONNECTION_STRING",
    default=(
        f"type=lnd-grpc;server=127.0.0.1:10009;macaroonfilepath={DEVNODE_LND_DIR}/flashpay/admin.macaroon;"
        f"certpath={DEVNODE_LND_DIR}/flashpay/tls.cert"
    ),
)
# Seconds to wait for an answer from the Lightning node (payments take their own timeout).
LIGHTNING_TIMEOUT = env.float("LIGHTNING_TIMEOUT", default=10.0)

# --- Bitcoin node (invoices/onchain) ---
# bitcoind JSON-RPC; auth by rpcuser/rpcpassword, or else the cookie file. Default: the devnode's
# simulator (`manage.py devnode`) with its cookie under DEVNODE_BITCOIND_DIR.
BITCOIN_NETWORK = env.str("BITCOIN_NETWORK", default="regtest")
DEVNODE_BITCOIND_DIR = env.path("DEVNODE_BITCOIND_DIR", default=BASE_DIR / "var" / "devnode" / "bitcoind")
BITCOIND_URL = env.str("BITCOIND_URL", default="http://127.0.0.1:18443")
BITCOIND_RPCUSER = env.str("BITCOIND_RPCUSER", default="")
BITCOIND_RPCPASSWORD = env.str("BITCOIND_RPCPASSWORD", default="")
BITCOIND_COOKIE_FILE = env.str("BITCOIND_COOKIE_FILE", default=f"{DEVNODE_BITCOIND_DIR}/.cookie")
BITCOIND_WALLET = env.str("BITCOIND_WALLET", default="flashpay")
# bitcoind's zmqpubhashblock / zmqpubrawtx endpoints (comma separated); empty: the watcher only polls.
BITCOIND_ZMQ_URLS = env.list("BITCOIND_ZMQ_URLS", default=[])

# --- Flash Card payments (cards/) ---
# Seconds a tap's LNURL-withdraw k1 stays valid, and the smallest payment a card makes.
CARD_K1_TTL_SECONDS = env.int("CARD_K1_TTL_SECONDS", default=60)
CARD_MIN_WITHDRAWABLE_MSAT = env.int("CARD_MIN_WITHDRAWABLE_MSAT", default=1000)
# Routing-fee reserve held on the card for a payment to an outside node: base + ppm of the amount.
CARD_ROUTING_FEE_BASE_MSAT = env.int("CARD_ROUTING_FEE_BASE_MSAT", default=2000)
CARD_ROUTING_FEE_PPM = env.int("CARD_ROUTING_FEE_PPM", default=5000)
# Seconds the callback waits for the node before answering (the outcome is then reconciled).
CARD_PAYMENT_TIMEOUT = env.float("CARD_PAYMENT_TIMEOUT", default=20.0)
# Requests per minute: taps per card, and taps + callbacks per client IP (0 disables).
CARD_RATE_LIMIT_PER_CARD = env.int("CARD_RATE_LIMIT_PER_CARD", default=20)
CARD_RATE_LIMIT_PER_IP = env.int("CARD_RATE_LIMIT_PER_IP", default=120)
# The most a cardholder may set their own limits to in the Flash app (program maximums, msat).
CARD_APP_MAX_PER_TRANSACTION_MSAT = env.int("CARD_APP_MAX_PER_TRANSACTION_MSAT", default=1_000_000_000)
CARD_APP_MAX_DAILY_MSAT = env.int("CARD_APP_MAX_DAILY_MSAT", default=5_000_000_000)
# Seconds a card top-up invoice stays payable.
CARD_TOPUP_EXPIRY_SECONDS = env.int("CARD_TOPUP_EXPIRY_SECONDS", default=3600)
# The store whose Greenfield invoices top up Flash Cards (its BTC-LN on the internal node and/or its
# BTC-CHAIN wallet receive the money); empty: the Flash app cannot create top-ups (503).
FLASH_PROGRAM_STORE_ID = env.str("FLASH_PROGRAM_STORE_ID", default="")
# bitcoind wallet WITH private keys (on BITCOIND_URL) that pays on-chain merchant settlements
# (sendtoaddress); empty: on-chain batches wait for an operator's payout and "mark paid".
CARD_SETTLEMENT_HOT_WALLET = env.str("CARD_SETTLEMENT_HOT_WALLET", default="")

# --- Rewards (rewards/) ---
# Days a new award stays pending (refunds claw it back) when the merchant's rule sets none.
REWARDS_DEFAULT_HOLD_DAYS = env.int("REWARDS_DEFAULT_HOLD_DAYS", default=7)
# Months after which unspent points expire (back to their funder); 0: points never expire.
REWARDS_EXPIRY_MONTHS = env.int("REWARDS_EXPIRY_MONTHS", default=12)
# The app's "expiring soon": points that expire within this many days.
REWARDS_EXPIRING_SOON_DAYS = env.int("REWARDS_EXPIRING_SOON_DAYS", default=30)
# Tiers are earned by spend over this many days (recomputed on a schedule).
REWARDS_TIER_WINDOW_DAYS = env.int("REWARDS_TIER_WINDOW_DAYS", default=90)
# Time zone of a new campaign's schedule (days of the week and hours), an IANA name.
REWARDS_DEFAULT_TIME_ZONE = env.str("REWARDS_DEFAULT_TIME_ZONE", default="America/Jamaica")

# Reverse proxies (IPs or CIDRs) whose X-Forwarded-For names the client for the per-IP limits
# (flashpay/ratelimit/clients.py); empty: REMOTE_ADDR is the client.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])

# --- Invoice LNURL-pay (invoices/services/lnurl.py) ---
# Callbacks a minute (each may mint a BOLT11 on the node) per client IP (see TRUSTED_PROXIES) and per
# invoice; over it the wallet gets HTTP 429 with Retry-After. 0 disables a limit.
LNURL_CALLBACK_RATE_PER_IP = env.int("LNURL_CALLBACK_RATE_PER_IP", default=30)
LNURL_CALLBACK_RATE_PER_INVOICE = env.int("LNURL_CALLBACK_RATE_PER_INVOICE", default=10)

# --- Webhooks (invoices/webhooks) ---
# Seconds to wait for a merchant's endpoint; retry delays after attempt 1, 2, 3... (the last value
# repeats) and attempts per delivery (BTCPay: 10 s, 1 min, then every 10 min, 8 attempts).
WEBHOOKS_TIMEOUT = env.float("WEBHOOKS_TIMEOUT", default=10.0)
WEBHOOKS_RETRY_DELAYS = env.list("WEBHOOKS_RETRY_DELAYS", cast=int, default=[10, 60, 600])
WEBHOOKS_MAX_ATTEMPTS = env.int("WEBHOOKS_MAX_ATTEMPTS", default=8)
# Key material for webhook signing secrets at rest; empty: derived from SECRET_KEY.
WEBHOOKS_SECRET_ENCRYPTION_KEY = env.str("WEBHOOKS_SECRET_ENCRYPTION_KEY", default="")
# Refuse to POST to private, loopback and link-local addresses (SSRF); off in development, where
# receivers often run on localhost.
WEBHOOKS_BLOCK_PRIVATE_NETWORKS = env.bool("WEBHOOKS_BLOCK_PRIVATE_NETWORKS", default=not DEBUG)
