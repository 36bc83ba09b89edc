"""Encryption of stored secrets with MultiFernet, keyed by SETTINGS_ENCRYPTION_KEYS."""

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app

# A prefix names the format, so a later scheme can be told apart from this one.
PREFIX = "fernet1:"


class UndecryptableSecret(Exception):
    """No configured key can decrypt the stored secret; it must be entered again."""


def _keys():
    raw = current_app.config["SETTINGS_ENCRYPTION_KEYS"]
    keys = [k.strip() for k in raw.split(",") if k.strip()]
    if not keys:
        raise RuntimeError("SETTINGS_ENCRYPTION_KEYS holds no key")
    return MultiFernet([Fernet(k.encode()) for k in keys])


def encrypt(plaintext):
    """The stored form of ``plaintext``, under the newest key."""
    return PREFIX + _keys().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(stored):
    """The plaintext of a stored secret, or UndecryptableSecret."""
    if not stored.startswith(PREFIX):
        raise UndecryptableSecret("unknown secret format")
    try:
        return _keys().decrypt(stored[len(PREFIX) :].encode("ascii")).decode("utf-8")
    except (InvalidToken, ValueError):
        raise UndecryptableSecret("no configured key decrypts the stored secret") from None


def rotate(stored):
    """``stored`` re-encrypted under the newest key (UndecryptableSecret if no key fits)."""
    try:
        token = _keys().rotate(stored[len(PREFIX) :].encode("ascii"))
    except (InvalidToken, ValueError):
        raise UndecryptableSecret("no configured key decrypts the stored secret") from None
    return PREFIX + token.decode("ascii")
