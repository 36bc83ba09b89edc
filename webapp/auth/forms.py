"""Login, first-run setup and user administration forms; all their checks live here."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from ..extensions import db
from ..validators import OneEmailAddress, PlainText, strip_filter
from .models import ROLES, User

MIN_PASSWORD = 12
ROLE_CHOICES = [SelectChoice(role, role.title()) for role in ROLES]


class LoginForm(FlaskForm):
    """Email and password; failures all look the same."""

    email = StringField("Email", [DataRequired(), Length(max=254)], filters=[strip_filter])
    password = PasswordField("Password", [DataRequired(), Length(max=1024)])
    submit = SubmitField("Log in")


EMAIL_TAKEN = "A user with this email already exists."


def _unique_email(form, field):
    if db.session.scalar(db.select(User.id).where(User.email == field.data)) is not None:
        raise ValidationError(EMAIL_TAKEN)


class NewPasswordMixin:
    """A password typed twice."""

    password = PasswordField(
        "Password",
        [DataRequired(), Length(min=MIN_PASSWORD, max=256)],
        description=f"At least {MIN_PASSWORD} characters.",
    )
    confirm = PasswordField(
        "Repeat password", [DataRequired(), EqualTo("password", "The passwords do not match.")]
    )


class SetupForm(NewPasswordMixin, FlaskForm):
    """The first administrator (members may exist already: their emails are taken)."""

    email = StringField(
        "Email",
        [DataRequired(), Length(max=254), OneEmailAddress(), _unique_email],
        filters=[strip_filter],
    )
    name = StringField(
        "Display name", [Length(max=100), PlainText(name=True)], filters=[strip_filter]
    )
    submit = SubmitField("Create administrator")


class UserCreateForm(NewPasswordMixin, FlaskForm):
    """A new account, made by an administrator."""

    email = StringField(
        "Email",
        [DataRequired(), Length(max=254), OneEmailAddress(), _unique_email],
        filters=[strip_filter],
    )
    name = StringField(
        "Display name", [Length(max=100), PlainText(name=True)], filters=[strip_filter]
    )
    role = SelectField("Role", choices=ROLE_CHOICES, default="member")
    submit = SubmitField("Create user")


class UserEditForm(FlaskForm):
    """Name, role and active flag of an existing user."""

    name = StringField(
        "Display name", [Length(max=100), PlainText(name=True)], filters=[strip_filter]
    )
    role = SelectField("Role", choices=ROLE_CHOICES)
    active = BooleanField("Active (may log in)")
    submit = SubmitField("Save changes")

    def __init__(self, user, *args, **kwargs):
        super().__init__(*args, obj=user, **kwargs)
        self.user = user

    def _loses_last_admin(self):
        stays_admin = self.role.data == "admin" and self.active.data
        if not self.user.is_admin or not self.user.active or stays_admin:
            return False
        others = db.select(db.func.count(User.id)).where(
            User.role == "admin", User.active.is_(True), User.id != self.user.id
        )
        return db.session.scalar(others) == 0

    def validate(self, extra_validators=None):
        """Also refuse to demote or deactivate the last active administrator."""
        if not super().validate(extra_validators):
            return False
        if self._loses_last_admin():
            self.role.errors.append(
                "This is the last active administrator: make another user an admin first."
            )
            return False
        return True
