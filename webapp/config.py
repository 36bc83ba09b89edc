"""Configuration read from the environment, with secrets generated once on first run."""

import os
import secrets

from cryptography.fernet import Fernet


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


def _flag(name, default="0"):
    return os.environ.get(name, default).strip().lower() in ("1", "true", "yes", "on")


def from_environment(instance_path):
    """Build the configuration mapping from environment variables."""
    env = os.environ
    database_url = env.get("DATABASE_URL") or "sqlite:///" + os.path.join(
        instance_path, "webapp.sqlite"
    )
    return {
        "SECRET_KEY": env.get("SECRET_KEY")
        or read_or_create_secret(instance_path, "secret_key", lambda: secrets.token_urlsafe(48)),
        "SETTINGS_ENCRYPTION_KEYS": env.get("SETTINGS_ENCRYPTION_KEYS")
        or read_or_create_secret(
            instance_path, "settings_encryption_keys", lambda: Fernet.generate_key().decode()
        ),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(database_url),
        "SMTP_TIMEOUT": float(env.get("SMTP_TIMEOUT", "10")),
        "SMTP_CA_BUNDLE": env.get("SMTP_CA_BUNDLE") or None,
        "SMTP_ALLOW_LOOPBACK": _flag("SMTP_ALLOW_LOOPBACK"),
        # RFC 5321: a name or an address literal; by default the FQDN or the local address.
        "SMTP_HELO_NAME": env.get("SMTP_HELO_NAME", "").strip() or None,
        "BASE_URL": (env.get("BASE_URL") or "http://127.0.0.1:5000").rstrip("/"),
        "RATELIMIT_STORAGE_URI": env.get("RATELIMIT_STORAGE_URI", "memory://"),
        "TRUSTED_PROXIES": int(env.get("TRUSTED_PROXIES", "0") or 0),
        **_notifier_tuning(env),
    }


def engine_options(database_url):
    """Connection pool settings: checked before use, recycled, sized for gthread workers."""
    options = {"pool_pre_ping": True, "pool_recycle": 1800}
    if database_url.startswith("postgresql"):
        # Each gunicorn process runs GUNICORN_THREADS threads; a worker needs one or two.
        threads = int(os.environ.get("GUNICORN_THREADS", "4"))
        options.update(pool_size=threads + 1, max_overflow=threads, pool_timeout=10)
    return options


def _notifier_tuning(env):
    """Optional worker knobs (batch size, lease, poll interval, backoff) from the environment."""
    knobs = {
        "NOTIFIER_BATCH_SIZE": int,
        "NOTIFIER_COMMIT_EVERY": int,
        "NOTIFIER_LEASE_SECONDS": float,
        "NOTIFIER_POLL_SECONDS": float,
        "NOTIFIER_BACKOFF_BASE": float,
        "NOTIFIER_MAX_ATTEMPTS": int,
        "RESOURCE_CHECK_SECONDS": int,
    }
    return {name: kind(env[name]) for name, kind in knobs.items() if env.get(name)}


class Defaults:
    """Settings that do not come from the environment."""

    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_NAME = "bi_session"
    PERMANENT_SESSION_LIFETIME = 12 * 3600
    WTF_CSRF_TIME_LIMIT = 8 * 3600
    BOOTSTRAP_SERVE_LOCAL = True
    BOOTSTRAP_BOOTSWATCH_THEME = None
    LOGIN_RATE_LIMIT = "10 per minute"
    # argon2id parameters (RFC 9106 second recommendation); tests may lower them.
    ARGON2_PARAMS = {"time_cost": 3, "memory_cost": 65536, "parallelism": 4}
    RATELIMIT_HEADERS_ENABLED = True
    RATELIMIT_STRATEGY = "fixed-window"
    AUDIT_PAGE_SIZE = 50
    # Notifier: a batch shares one SMTP connection; retries back off 30 s, 60 s, … up to an
    # hour with full jitter, so 12 attempts span several hours (an hour's outage loses nothing).
    NOTIFIER_BATCH_SIZE = 50
    # Sent messages are recorded in groups of this size (see Worker._flush_sent).
    NOTIFIER_COMMIT_EVERY = 10
    NOTIFIER_LEASE_SECONDS = None  # default: long enough for a whole batch to time out
    NOTIFIER_POLL_SECONDS = 2.0
    NOTIFIER_MAX_ATTEMPTS = 12
    NOTIFIER_BACKOFF_BASE = 30.0
    NOTIFIER_BACKOFF_CAP = 3600.0
    RESOURCE_CHECK_SECONDS = 60
    API_MAX_BODY = 1024 * 1024
