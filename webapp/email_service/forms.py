"""The Email Service form: every check on the settings lives here."""

import ipaddress
import re

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    IntegerField,
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

from ..validators import OneEmailAddress, PlainText, has_control_characters, strip_filter
from . import presets
from .diagnosis import security_warning
from .transport import SmtpParams

HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
SECURITY_CHOICES = [
    SelectChoice("none", "None"),
    SelectChoice("ssl", "SSL"),
    SelectChoice("tls", "TLS"),
]
RETYPE_MESSAGE = (
    "You changed the server, port or login name: enter the password again. A stored "
    "password is only ever sent to the server and login it was saved for."
)


def validate_host(form, field):
    """A host name or IP address: no scheme, no port, at most 253 characters."""
    value = field.data or ""
    if "://" in value:
        raise ValidationError("Enter only the server name, without smtp:// or another scheme.")
    if any(ch.isspace() for ch in value) or has_control_characters(value):
        raise ValidationError("The server name cannot contain spaces.")
    try:
        ipaddress.ip_address(value)
        return
    except ValueError:
        pass
    if ":" in value or "/" in value:
        raise ValidationError("Enter the port in the Port field, not after the server name.")
    try:
        ascii_name = value.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValidationError("Enter a valid host name such as smtp.example.com.") from None
    if len(ascii_name) > 253:
        raise ValidationError("A host name has at most 253 characters.")
    if not all(HOST_LABEL.match(label) for label in ascii_name.rstrip(".").split(".")):
        raise ValidationError("Enter a valid host name such as smtp.example.com or an IP address.")


def validate_password_text(form, field):
    """ASCII only: smtplib cannot send anything else in a login."""
    if field.data and (not field.data.isascii() or has_control_characters(field.data)):
        raise ValidationError(
            "Use only ASCII letters, digits and symbols: SMTP login cannot send other characters."
        )


class EmailSettingsForm(FlaskForm):
    """Enterprise Settings → Email Service."""

    # Not stored; an unknown value only matters to "Apply", which says so.
    preset = SelectField("Provider preset", choices=presets.CHOICES, validate_choice=False)
    apply_preset = SubmitField("Apply")
    smtp_host = StringField(
        "Email server (SMTP)",
        [DataRequired("Enter the mail server's name."), Length(max=253), validate_host],
        filters=[strip_filter],
    )
    smtp_port = IntegerField(
        "Port", [InputRequired("Enter a port from 1 to 65535."), NumberRange(1, 65535)]
    )
    security = RadioField("Security protocol", choices=SECURITY_CHOICES, default="ssl")
    sender_email = StringField(
        "Sender email",
        [DataRequired("Enter the address mail is sent from."), Length(max=254), OneEmailAddress()],
        filters=[strip_filter],
    )
    password = PasswordField(
        "Password / authorization code", [Length(max=256), validate_password_text]
    )
    remove_password = BooleanField("Remove stored password")
    allow_plaintext_password = BooleanField(
        "Send the password without encryption (I understand anyone on the network can read it)"
    )
    login_name = StringField(
        "SMTP login name", [Optional(), Length(max=254), PlainText()], filters=[strip_filter]
    )
    sender_name = StringField(
        "Sender name",
        [Length(max=100), PlainText(forbid_encoded_words=True)],
        filters=[strip_filter],
    )
    test_email = StringField(
        "Test email", [Optional(), Length(max=254), OneEmailAddress()], filters=[strip_filter]
    )
    enabled = BooleanField("Enable the Email Service")
    version = HiddenField()
    save_unverified = BooleanField("Save without verifying (the server is down for maintenance)")
    submit = SubmitField("Save")
    test = SubmitField("Test Connection")

    def __init__(self, stored, *args, **kwargs):
        super().__init__(*args, obj=stored, **kwargs)
        self.stored = stored
        self.warnings = []
        if not self.is_submitted():
            # The confirmation was given when this password was saved over "None".
            self.allow_plaintext_password.data = stored.security == "none" and stored.has_password

    # -- derived values --------------------------------------------------------------
    @property
    def effective_login(self):
        return self.login_name.data or self.sender_email.data or ""

    def _target_changed(self):
        stored = self.stored
        return (
            (self.smtp_host.data or "").lower() != (stored.smtp_host or "").lower()
            or self.smtp_port.data != stored.smtp_port
            or self.effective_login != stored.effective_login
        )

    def matches_stored(self):
        """True when these values reach the stored server with the stored password."""
        stored = self.stored
        same_password = self.keeps_stored_password() or (
            not self.password.data and not stored.has_password
        )
        return (
            stored.version > 0
            and not self._target_changed()
            and self.security.data == stored.security
            and same_password
        )

    def keeps_stored_password(self):
        """True when the blank password field means "use the stored one"."""
        return not self.password.data and not self.remove_password.data and self.stored.has_password

    def effective_password(self):
        """The password a test or save will use: typed, kept, or None."""
        if self.password.data:
            return self.password.data
        if self.keeps_stored_password():
            return self.stored.decrypted_password()
        return None

    def smtp_params(self):
        """The connection parameters from the (validated) form values."""
        return SmtpParams(
            host=self.smtp_host.data,
            port=self.smtp_port.data,
            security=self.security.data,
            login=self.effective_login,
            password=self.effective_password(),
        )

    # -- checks across fields ------------------------------------------------------
    def validate(self, extra_validators=None, *, for_test=False):
        """Field checks, then the password, version and test-address rules."""
        valid = super().validate(extra_validators)
        valid = self._check_password_rules() and valid
        if for_test and not self.test_email.data:
            self.test_email.errors.append("Enter the address the test email goes to.")
            valid = False
        if not for_test and not self.check_version():
            valid = False
        self._collect_warnings()
        return valid

    def _check_password_rules(self):
        errors = self.password.errors
        if self.password.data and self.remove_password.data:
            errors.append("Either enter a new password or remove the stored one, not both.")
        elif self.keeps_stored_password() and self._target_changed():
            errors.append(RETYPE_MESSAGE)
        elif self.keeps_stored_password() and not self.stored.password_readable():
            errors.append(
                "The stored password can no longer be decrypted (the encryption keys changed): "
                "enter it again."
            )
        sends_password = bool(self.password.data) or self.keeps_stored_password()
        confirmed_before = (
            self.keeps_stored_password()
            and self.stored.security == "none"
            and not self._target_changed()
        )
        if (
            self.security.data == "none"
            and sends_password
            and not confirmed_before
            and not self.allow_plaintext_password.data
        ):
            self.allow_plaintext_password.errors.append(
                "With security None the password crosses the network unencrypted. Choose SSL "
                "or TLS, or tick this box to confirm."
            )
        return not errors and not self.allow_plaintext_password.errors

    def check_version(self):
        """False (with an error naming who changed what when) if the row moved on since the page."""
        stored = self.stored
        # The submitted value only: a form without it must not inherit the stored one.
        submitted = self.version.raw_data[0] if self.version.raw_data else None
        if submitted == str(stored.version or 0):
            return True
        when = stored.updated_at.strftime("%Y-%m-%d %H:%M:%S UTC") if stored.updated_at else "?"
        self.version.errors.append(
            f"These settings were changed by {stored.updated_by or 'another administrator'} at "
            f"{when} after you opened this page. Reload the page to see that change, then make "
            "yours again."
        )
        return False

    def _collect_warnings(self):
        if self.smtp_port.data and self.security.data:
            warning = security_warning(self.smtp_port.data, self.security.data)
            if warning:
                self.warnings.append(warning)
        sender = (self.sender_email.data or "").lower()
        if self.login_name.data and sender and self.login_name.data.lower() != sender:
            self.warnings.append(
                "The login name differs from the sender email. QQ Mail and 163 refuse mail "
                "whose sender is not the logged-in account; Microsoft Exchange needs send-as "
                "rights for the sender."
            )

    def password_status(self):
        """What the page says about the stored password (never the password itself)."""
        stored = self.stored
        if not stored.has_password:
            return "No password stored."
        if not stored.password_readable():
            return "A password is stored but can no longer be decrypted: enter it again."
        when = (
            stored.password_changed_at.strftime("%Y-%m-%d") if stored.password_changed_at else "?"
        )
        return (
            f"A password is stored (last changed by {stored.password_changed_by or '?'} "
            f"on {when}); leave blank to keep it."
        )
