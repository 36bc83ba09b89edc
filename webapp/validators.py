"""WTForms validators shared by every feature's forms."""

import unicodedata

import email_validator
from email_validator import EmailNotValidError, validate_email
from flask_babel import gettext
from wtforms import IntegerField
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
        raise ValueError(gettext("Enter exactly one email address."))
    try:
        # No DNS lookup (intranets), and ASCII only so every SMTP server can carry it.
        result = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        # email-validator's own explanation stays English: it has no catalogue.
        raise ValueError(gettext("Enter a valid email address: %(reason)s", reason=exc)) from None
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


def has_invisible_characters(value):
    """True when ``value`` holds a format character: bidi controls such as U+202E, which
    show "gpj.exe" as "exe.jpg", or zero-width ones such as U+200B."""
    return any(unicodedata.category(ch) == "Cf" for ch in value)


class PlainText:
    """One line of text: no control characters (so no header or log injection).

    ``name=True`` (display and sender names, which mail clients show as the sender) also
    refuses invisible characters that can disguise who is writing.
    """

    def __init__(self, forbid_encoded_words=False, name=False):
        self.forbid_encoded_words = forbid_encoded_words
        self.name = name

    def __call__(self, form, field):
        value = field.data or ""
        if has_control_characters(value):
            raise ValidationError(gettext("Line breaks and control characters are not allowed."))
        if self.name and has_invisible_characters(value):
            raise ValidationError(
                gettext(
                    "Invisible characters (direction marks, zero-width spaces) are not allowed."
                )
            )
        if self.forbid_encoded_words and "=?" in value:
            raise ValidationError(
                gettext('The sequence "=?" is not allowed (it can forge mail headers).')
            )


def strip_filter(value):
    """Trim surrounding whitespace from a submitted string."""
    return value.strip() if isinstance(value, str) else value


class WholeNumberField(IntegerField):
    """An integer field that refuses a number too long to be meant (``"9" * 400``), which
    ``NumberRange`` would otherwise turn into an OverflowError."""

    MAX_DIGITS = 12

    def process_formdata(self, valuelist):
        if valuelist and len(valuelist[0].strip().lstrip("+-")) > self.MAX_DIGITS:
            self.data = None
            raise ValueError(self.gettext("Not a valid integer value."))
        super().process_formdata(valuelist)
