"""The Email Service form: every check on the settings lives here."""

import ipaddress
import re

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    PasswordField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from ..i18n import local_time
from ..validators import (
    OneEmailAddress,
    PlainText,
    WholeNumberField,
    has_control_characters,
    strip_filter,
)
from . import presets
from .diagnosis import security_warning
from .models import AuthMethod, Security
from .service import SettingsInput

HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
SECURITY_CHOICES = [SelectChoice(mode.value, mode.label) for mode in Security]
AUTH_CHOICES = [SelectChoice(method.value, method.label) for method in AuthMethod]
FLOW_CHOICES = [
    SelectChoice("application", _l("Application (client credentials, no sign-in)")),
    SelectChoice("delegated", _l("Delegated (sign in once as the sender mailbox)")),
]
# Tenant: a GUID or a domain; client IDs: Microsoft GUIDs, Google's "…apps.googleusercontent.com".
OAUTH_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def validate_oauth_id(form, field):
    """Letters, digits and . _ - only (IDs and domains), at most 100."""
    if field.data and not OAUTH_ID.fullmatch(field.data):
        raise ValidationError(
            gettext("Enter the ID as shown by the provider: letters, digits, . _ -")
        )


def validate_host(form, field):
    """A host name or IP address: no scheme, no port, at most 253 characters."""
    value = field.data or ""
    if "://" in value:
        raise ValidationError(
            gettext("Enter only the server name, without smtp:// or another scheme.")
        )
    if any(ch.isspace() for ch in value) or has_control_characters(value):
        raise ValidationError(gettext("The server name cannot contain spaces."))
    try:
        ipaddress.ip_address(value)
        return
    except ValueError:
        pass
    if ":" in value or "/" in value:
        raise ValidationError(
            gettext("Enter the port in the Port field, not after the server name.")
        )
    try:
        ascii_name = value.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValidationError(
            gettext("Enter a valid host name such as smtp.example.com.")
        ) from None
    if len(ascii_name) > 253:
        raise ValidationError(gettext("A host name has at most 253 characters."))
    if not all(HOST_LABEL.match(label) for label in ascii_name.rstrip(".").split(".")):
        raise ValidationError(
            gettext("Enter a valid host name such as smtp.example.com or an IP address.")
        )


def validate_password_text(form, field):
    """ASCII only: smtplib cannot send anything else in a login."""
    if field.data and (not field.data.isascii() or has_control_characters(field.data)):
        raise ValidationError(
            gettext(
                "Use only ASCII letters, digits and symbols: SMTP login cannot send other "
                "characters."
            )
        )


class EmailSettingsForm(FlaskForm):
    """Enterprise Settings → Email Service."""

    # Not stored; an unknown value only matters to "Apply", which says so.
    preset = SelectField(_l("Provider preset"), choices=presets.CHOICES, validate_choice=False)
    apply_preset = SubmitField(_l("Apply"))
    smtp_host = StringField(
        _l("Email server (SMTP)"),
        [DataRequired(_l("Enter the mail server's name.")), Length(max=253), validate_host],
        filters=[strip_filter],
    )
    smtp_port = WholeNumberField(
        _l("Port"), [InputRequired(_l("Enter a port from 1 to 65535.")), NumberRange(1, 65535)]
    )
    security = RadioField(
        _l("Security protocol"), choices=SECURITY_CHOICES, default=Security.SSL.value
    )
    sender_email = StringField(
        _l("Sender email"),
        [
            DataRequired(_l("Enter the address mail is sent from.")),
            Length(max=254),
            OneEmailAddress(),
        ],
        filters=[strip_filter],
    )
    password = PasswordField(
        _l("Password / authorization code"), [Length(max=256), validate_password_text]
    )
    remove_password = BooleanField(_l("Remove stored password"))
    allow_plaintext_password = BooleanField(
        _l("Send the password without encryption (I understand anyone on the network can read it)")
    )
    login_name = StringField(
        _l("SMTP login name"), [Optional(), Length(max=254), PlainText()], filters=[strip_filter]
    )
    sender_name = StringField(
        _l("Sender name"),
        [Length(max=100), PlainText(forbid_encoded_words=True, name=True)],
        filters=[strip_filter],
    )
    test_email = StringField(
        _l("Test email"), [Optional(), Length(max=254), OneEmailAddress()], filters=[strip_filter]
    )
    auth_method = RadioField(_l("Authentication"), choices=AUTH_CHOICES, default="password")
    oauth_tenant = StringField(_l("Directory (tenant) ID"), [Optional(), validate_oauth_id],
                               filters=[strip_filter])  # fmt: skip
    oauth_client_id = StringField(_l("Application (client) ID"), [Optional(), validate_oauth_id],
                                  filters=[strip_filter])  # fmt: skip
    oauth_client_secret = PasswordField(
        _l("Client secret"), [Length(max=256), validate_password_text]
    )
    oauth_flow = RadioField(_l("Sign-in"), choices=FLOW_CHOICES, default="application")
    enabled = BooleanField(_l("Enable the Email Service"))
    # Left out of a submission, these keep their stored values.
    max_connections = WholeNumberField(
        _l("Parallel sessions"),
        [Optional(), NumberRange(1, 20, _l("Enter how many sessions, from 1 to 20."))],
    )
    max_per_minute = WholeNumberField(
        _l("Messages per minute"),
        [Optional(), NumberRange(0, 100_000, _l("Enter 0 (no limit) to 100000."))],
    )
    version = HiddenField()
    save_unverified = BooleanField(
        _l("Save without verifying (the server is down for maintenance)")
    )
    submit = SubmitField(_l("Save"))
    test = SubmitField(_l("Test Connection"))

    def __init__(self, stored, *args, **kwargs):
        super().__init__(*args, obj=stored, **kwargs)
        self.stored = stored
        self.warnings = []
        if not self.is_submitted():
            # The confirmation was given when this password was saved over "None".
            self.allow_plaintext_password.data = stored.security == "none" and stored.has_password

    def values(self):
        """The submitted values, for the service's rules and the save."""
        data = {name: getattr(self, name).data for name in SettingsInput.names()}
        for name in ("max_connections", "max_per_minute"):
            if data[name] is None:
                data[name] = getattr(self.stored, name)
        if data["auth_method"] == "google":
            data["oauth_flow"] = "delegated"  # Gmail has no client-credentials grant
        return SettingsInput(**data)

    def submitted_version(self):
        """The version the page was rendered with (None when the form did not send one)."""
        return self.version.raw_data[0] if self.version.raw_data else None

    def add_errors(self, errors):
        """Show the service's ``{field: message}`` findings beside their fields."""
        for name, message in errors.items():
            getattr(self, name).errors.append(message)

    def validate(self, extra_validators=None, *, for_test=False):
        """Field checks; a test also needs the address the test email goes to."""
        valid = super().validate(extra_validators)
        if for_test and not self.test_email.data:
            self.test_email.errors.append(gettext("Enter the address the test email goes to."))
            valid = False
        self._collect_warnings()
        return valid

    def _collect_warnings(self):
        if self.smtp_port.data and self.security.data:
            warning = security_warning(self.smtp_port.data, self.security.data)
            if warning:
                self.warnings.append(warning)
        sender = (self.sender_email.data or "").lower()
        if self.login_name.data and sender and self.login_name.data.lower() != sender:
            self.warnings.append(
                gettext(
                    "The login name differs from the sender email. QQ Mail and 163 refuse mail "
                    "whose sender is not the logged-in account; Microsoft Exchange needs send-as "
                    "rights for the sender."
                )
            )

    def password_status(self):
        """What the page says about the stored password (never the password itself)."""
        stored = self.stored
        if not stored.has_password:
            return gettext("No password stored.")
        if not stored.password_readable():
            return gettext("A password is stored but can no longer be decrypted: enter it again.")
        return gettext(
            "A password is stored (last changed by %(who)s on %(date)s); leave blank to keep it.",
            who=stored.password_changed_by or "?",
            # The date in the reader's time zone.
            date=local_time(stored.password_changed_at)[:10] or "?",
        )
