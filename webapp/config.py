"""Configuration: one table of every setting, read from the environment where it may be set.

Each ``Setting`` names its variable, how its text is read, its default and what it means;
secrets without a value are generated once into the instance folder (mode 0600).
"""

import os
import secrets
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet


class ConfigError(ValueError):
    """An environment variable holds a value that cannot be read; the message names it."""


def flag(text):
    """``1``, ``true``, ``yes`` or ``on`` (any case) is true; ``0``, ``false``… is false."""
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("expected 1/0, true/false, yes/no or on/off")


def optional_text(text):
    """The trimmed text, or None when blank."""
    return text.strip() or None


DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def duration(text):
    """Seconds from ``90``, ``90s``, ``30m``, ``48h`` or ``2d``."""
    value = text.strip().lower()
    unit = DURATION_UNITS.get(value[-1:])
    number = value[:-1] if unit else value
    try:
        seconds = float(number) * (unit or 1)
    except ValueError:
        raise ValueError("expected a duration such as 48h, 30m, 2d or 600 (seconds)") from None
    if seconds <= 0:
        raise ValueError("expected a duration above zero")
    return seconds


def long_key(text):
    """A secret key of at least 32 characters (shorter ones can be guessed)."""
    value = text.strip()
    if len(value) < 32:
        raise ValueError("expected at least 32 characters")
    return value


def url(text):
    """A base URL without its trailing slash."""
    return text.strip().rstrip("/")


# The UI languages with a catalogue in translations/ (English is the source language).
LOCALES = ("en", "zh_CN")


def locale_code(text):
    """One of ``LOCALES``; ``zh-CN`` is read as ``zh_CN``."""
    value = text.strip().replace("-", "_")
    for code in LOCALES:
        if value.lower() == code.lower():
            return code
    raise ValueError(f"expected one of {', '.join(LOCALES)}")


def time_zone(text):
    """An IANA time zone name known to this machine, such as ``Asia/Shanghai``."""
    value = text.strip()
    if value not in zoneinfo.available_timezones():
        raise ValueError("expected an IANA time zone name such as UTC or Asia/Shanghai")
    return value


@dataclass(frozen=True)
class Setting:
    """One configuration key: read from the environment when ``env``, else fixed."""

    name: str
    default: Any
    doc: str
    read: Callable[[str], Any] = str
    env: bool = True
    secret: bool = False  # never echoed in an error message


def _secret(name, make):
    return lambda instance: read_or_create_secret(instance, name, make)


SETTINGS = (
    # -- from the environment ---------------------------------------------------------
    Setting("SECRET_KEY", _secret("secret_key", lambda: secrets.token_urlsafe(48)),
            "signs session cookies", secret=True),
    Setting("SETTINGS_ENCRYPTION_KEYS",
            _secret("settings_encryption_keys", lambda: Fernet.generate_key().decode()),
            "comma-separated Fernet keys, newest first, for stored secrets", secret=True),
    Setting("AUDIT_HMAC_KEY", _secret("audit_hmac_key", lambda: secrets.token_urlsafe(48)),
            "key of the audit chain's HMAC-SHA256 (kept outside the database)", long_key,
            secret=True),
    Setting("AUDIT_ANCHOR_FILE", lambda instance: os.path.join(instance, "audit_anchor"),
            "append-only file naming each committed audit event's id and HMAC"),
    Setting("DATABASE_URL", lambda instance: "sqlite:///" + os.path.join(instance, "webapp.sqlite"),
            "SQLAlchemy URL of the database (it may hold a password)", secret=True),
    Setting("SMTP_TIMEOUT", 10.0, "seconds for any one SMTP conversation", float),
    Setting("SMTP_CA_BUNDLE", None, "PEM file of extra CAs trusted for SMTP TLS", optional_text),
    Setting("SMTP_ALLOW_LOOPBACK", False,
            "allow SMTP servers on loopback and on this host's own addresses", flag),
    Setting("SMTP_HELO_NAME", None,
            "name sent in EHLO (default: the FQDN when dotted, else [local address])",
            optional_text),
    Setting("BASE_URL", "http://127.0.0.1:5000", "absolute links in outgoing mail", url),
    Setting("OAUTH_MICROSOFT_AUTHORITY", "https://login.microsoftonline.com",
            "Microsoft identity platform host; the tenant is appended", url),
    Setting("OAUTH_GOOGLE_AUTH_URL", "https://accounts.google.com/o/oauth2/v2/auth",
            "Google's authorization endpoint", url),
    Setting("OAUTH_GOOGLE_TOKEN_URL", "https://oauth2.googleapis.com/token",
            "Google's token endpoint", url),
    Setting("DEFAULT_LOCALE", "en",
            "UI language when the user has none and the browser says nothing (en, zh_CN)",
            locale_code),
    Setting("DEFAULT_TIMEZONE", "UTC",
            "time zone of the pages when the user has chosen none, e.g. Asia/Shanghai",
            time_zone),
    Setting("RATELIMIT_STORAGE_URI", "memory://", "Flask-Limiter storage"),
    Setting("TRUSTED_PROXIES", 0, "reverse proxies whose X-Forwarded-* headers count", int),
    Setting("NOTIFIER_BATCH_SIZE", 50, "deliveries a worker claims at once", int),
    Setting("NOTIFIER_COMMIT_EVERY", 10, "sent messages recorded per commit", int),
    Setting("NOTIFIER_LEASE_SECONDS", None,
            "how long a claim is held (default: batch × SMTP_TIMEOUT + 60)", float),
    Setting("NOTIFIER_POLL_SECONDS", 1.0,
            "idle wait between looks at the outbox (PostgreSQL also wakes on NOTIFY)", float),
    Setting("NOTIFIER_EMBEDDED", False,
            "run the delivery worker inside the web process (make run)", flag),
    Setting("NOTIFIER_THROTTLE_PAUSE", 5.0,
            "first pause after a server says slow down, seconds (doubles while it lasts)",
            float),
    Setting("NOTIFIER_BACKOFF_BASE", 30.0, "first retry delay in seconds (doubles each try)",
            float),
    Setting("NOTIFIER_MAX_AGE", 48 * 3600.0,
            "how long a delivery is retried after it was queued, e.g. 48h", duration),
    Setting("RESOURCE_CHECK_SECONDS", 60, "interval of the server resource monitor", int),
    Setting("SESSION_LIFETIME", 12 * 3600.0,
            "a login ends this long after it began, e.g. 12h", duration),
    Setting("SESSION_IDLE_TIMEOUT", 2 * 3600.0, "a login unused this long ends, e.g. 2h",
            duration),
    Setting("LOGIN_HASH_CONCURRENCY", 2, "password checks run at once per app process", int),
    # A waiting login holds a server thread that pages need: bench_login_flood measured
    # waits of 2 s and 0.5 s starving pages under a flood (4 and 10 pages/s against 68 at
    # 0.1 s). A burst of real logins may get a 503 with Retry-After instead, and is let in
    # when it tries again.
    Setting("LOGIN_HASH_WAIT", 0.1,
            "seconds a login waits for a free password check before answering 503", float),
    Setting("LOGIN_DELAY_MAX", 1.0,
            "longest slow-down, seconds, of a login to an account failing from many places",
            float),
    Setting("LOGIN_ALERT_ADDRESSES", 5,
            "addresses failing on one account within LOGIN_ALERT_WINDOW that alert the admins",
            int),
    Setting("LOGIN_ALERT_WINDOW", 15 * 60.0, "window of the login-attack alert, e.g. 15m",
            duration),
    # -- fixed ------------------------------------------------------------------------
    Setting("SESSION_COOKIE_HTTPONLY", True, "no script reads the session cookie", env=False),
    Setting("SESSION_COOKIE_SAMESITE", "Lax", "the cookie is not sent cross-site", env=False),
    Setting("SESSION_COOKIE_NAME", "bi_session", "the session cookie's name", env=False),
    Setting("PERMANENT_SESSION_LIFETIME", 12 * 3600, "seconds a login lasts", env=False),
    Setting("WTF_CSRF_TIME_LIMIT", 8 * 3600, "seconds a form's CSRF token lasts", env=False),
    Setting("BOOTSTRAP_SERVE_LOCAL", True, "Bootstrap from this server, no CDN", env=False),
    # Relative to the package: the catalogues sit beside templates/, outside webapp/.
    Setting("BABEL_TRANSLATION_DIRECTORIES", "../translations",
            "folder of the compiled message catalogues", env=False),
    Setting("BOOTSTRAP_BOOTSWATCH_THEME", None, "Bootstrap's own theme", env=False),
    Setting("LOGIN_RATE_LIMIT", "10 per minute", "failed logins per address", env=False),
    Setting("LOGIN_PAIR_RATE_LIMIT", "5 per minute; 20 per hour",
            "failed logins per account from one address", env=False),
    # argon2id parameters (RFC 9106 second recommendation); tests may lower them.
    Setting("ARGON2_PARAMS", {"time_cost": 3, "memory_cost": 65536, "parallelism": 4},
            "password hashing cost", env=False),
    # Said for every app: Flask-Limiter otherwise keeps the last app's choice, so one app
    # made with limits off (a test) turned them off for every app made after it.
    Setting("RATELIMIT_ENABLED", True, "rate limits on (tests may turn them off)", env=False),
    Setting("RATELIMIT_HEADERS_ENABLED", True, "rate-limit headers on answers", env=False),
    Setting("RATELIMIT_STRATEGY", "fixed-window", "how limits count", env=False),
    Setting("AUDIT_PAGE_SIZE", 50, "events per audit page", env=False),
    Setting("NOTIFIER_BACKOFF_CAP", 1800.0, "longest wait between two tries, seconds", env=False),
    Setting("CLOCK", None, "a callable returning naive UTC now (tests only)", env=False),
    # Attachments: 10 MB of files is 13.4 MB in base64, plus text and HTML.
    Setting("API_MAX_BODY", 16 * 1024 * 1024, "largest API request body, bytes", env=False),
    Setting("MAX_CONTENT_LENGTH", 1024 * 1024, "largest request body of the pages, bytes",
            env=False),
)  # fmt: skip


def read_or_create_secret(instance_path, name, make):
    """Return the secret stored in ``instance_path/name``, creating it (mode 0600) once."""
    os.makedirs(instance_path, exist_ok=True)
    path = os.path.join(instance_path, name)
    try:
        # O_EXCL: when several workers start together, exactly one writes the file.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_secret(path, name)
    value = make()
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(value + "\n")
    return value


def _read_secret(path, name):
    with open(path, encoding="ascii") as f:
        value = f.read().strip()
    if not value:
        raise RuntimeError(f"{name} in the instance folder is empty; delete it or set it")
    return value


def _value(setting, instance_path, environ):
    text = environ.get(setting.name, "") if setting.env else ""
    if text.strip():
        try:
            return setting.read(text)
        except ValueError as exc:
            shown = "(hidden)" if setting.secret else repr(text)
            raise ConfigError(f"{setting.name}={shown} cannot be used: {exc}") from None
    # Generated secrets and paths are only made when nothing overrides them.
    return setting.default(instance_path) if callable(setting.default) else setting.default


def load(instance_path, overrides=None, environ=None):
    """Every setting: ``overrides`` first, then the environment, then the default."""
    overrides = dict(overrides or {})
    environ = os.environ if environ is None else environ
    config = {
        s.name: overrides[s.name] if s.name in overrides else _value(s, instance_path, environ)
        for s in SETTINGS
    }
    config.update(overrides)
    config["SQLALCHEMY_DATABASE_URI"] = overrides.get(
        "SQLALCHEMY_DATABASE_URI", config["DATABASE_URL"]
    )
    config.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS", engine_options(config["SQLALCHEMY_DATABASE_URI"])
    )
    return config


def engine_options(database_url):
    """Connection pool settings: checked before use, recycled, sized for gthread workers."""
    options = {"pool_pre_ping": True, "pool_recycle": 1800}
    if database_url.startswith("postgresql"):
        # Each gunicorn process runs GUNICORN_THREADS threads; a worker needs one or two.
        threads = int(os.environ.get("GUNICORN_THREADS", "4"))
        options.update(pool_size=threads + 1, max_overflow=threads, pool_timeout=10)
    return options
