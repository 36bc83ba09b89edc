"""WTForms validators shared by every feature's forms."""

import unicodedata

import email_validator
from email_validator import EmailNotValidError, validate_email
from wtforms.validators import ValidationError

# Companies run internal mail domains (corp.local, mail.test) that real MTAs deliver to.
# email-validator documents this list as the place to permit them; "localhost" has no dot
# and stays refused, as do "invalid", "onion" and "arpa".
COMPANY_DOMAIN_SUFFIXES = ("local", "test")
email_validator.SPECIAL_USE_DOMAIN_NAMES[:] = [
    name for name in email_validator.SPECIAL_USE_DOMAIN_NAMES if name not in COMPANY_DOMAIN_SUFFIXES
]


def normalized_address(value):
    """One email address, checked by email-validator (no DNS) and lower-cased; or ValueError.

    Any well-formed address whose domain has a dot is accepted (IDNA included), internal
    domains too: nothing is looked up.
    """
    value = (value or "").strip()
    if "," in value or ";" in value:
        raise ValueError("Enter exactly one email address.")
    try:
        # No DNS lookup (intranets), and ASCII only so every SMTP server can carry it.
        result = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise ValueError(f"Enter a valid email address: {exc}") from None
    return result.ascii_email.lower()


def address_key(value):
    """The form an address is stored and looked up in; never raises (for logins and limits).

    A valid address gets its normalised form; anything else is only trimmed and lower-cased,
    so a lookup of it simply finds nothing.
    """
    try:
        return normalized_address(value)
    except ValueError:
        return (value or "").strip().lower()


class OneEmailAddress:
    """Exactly one valid address; the field's data becomes its normalized form."""

    def __call__(self, form, field):
        if not field.data:
            return
        try:
            field.data = normalized_address(field.data)
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


def has_control_characters(value):
    """True when ``value`` holds CR, LF, NUL, another control character or U+2028/2029."""
    return any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in value)


class PlainText:
    """One line of text: no control characters (so no header or log injection)."""

    def __init__(self, forbid_encoded_words=False):
        self.forbid_encoded_words = forbid_encoded_words

    def __call__(self, form, field):
        value = field.data or ""
        if has_control_characters(value):
            raise ValidationError("Line breaks and control characters are not allowed.")
        if self.forbid_encoded_words and "=?" in value:
            raise ValidationError('The sequence "=?" is not allowed (it can forge mail headers).')


def strip_filter(value):
    """Trim surrounding whitespace from a submitted string."""
    return value.strip() if isinstance(value, str) else value
