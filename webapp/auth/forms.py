"""Login, first-run setup and user administration forms; all their checks live here."""

from flask_babel import gettext, lazy_pgettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from ..extensions import db
from ..validators import OneEmailAddress, PlainText, strip_filter
from .models import ROLES, User

MIN_PASSWORD = 12
#: How a role is named in a sentence ("a member") and in a list.
ROLE_NAMES = {"admin": lazy_pgettext("role", "admin"), "member": lazy_pgettext("role", "member")}
ROLE_CHOICES = [SelectChoice("admin", _l("Admin")), SelectChoice("member", _l("Member"))]
assert {choice.value for choice in ROLE_CHOICES} == set(ROLES) == set(ROLE_NAMES)


class LoginForm(FlaskForm):
    """Email and password; failures all look the same."""

    email = StringField(_l("Email"), [DataRequired(), Length(max=254)], filters=[strip_filter])
    password = PasswordField(_l("Password"), [DataRequired(), Length(max=1024)])
    submit = SubmitField(_l("Log in"))


EMAIL_TAKEN = _l("A user with this email already exists.")


def _unique_email(form, field):
    if db.session.scalar(db.select(User.id).where(User.email == field.data)) is not None:
        raise ValidationError(str(EMAIL_TAKEN))


class NewPasswordMixin:
    """A password typed twice."""

    password = PasswordField(
        _l("Password"),
        [DataRequired(), Length(min=MIN_PASSWORD, max=256)],
        description=_l("At least %(count)d characters.", count=MIN_PASSWORD),
    )
    confirm = PasswordField(
        _l("Repeat password"),
        [DataRequired(), EqualTo("password", _l("The passwords do not match."))],
    )


class SetupForm(NewPasswordMixin, FlaskForm):
    """The first administrator (members may exist already: their emails are taken)."""

    email = StringField(
        _l("Email"),
        [DataRequired(), Length(max=254), OneEmailAddress(), _unique_email],
        filters=[strip_filter],
    )
    name = StringField(
        _l("Display name"), [Length(max=100), PlainText(name=True)], filters=[strip_filter]
    )
    submit = SubmitField(_l("Create administrator"))


class UserCreateForm(NewPasswordMixin, FlaskForm):
    """A new account, made by an administrator."""

    email = StringField(
        _l("Email"),
        [DataRequired(), Length(max=254), OneEmailAddress(), _unique_email],
        filters=[strip_filter],
    )
    name = StringField(
        _l("Display name"), [Length(max=100), PlainText(name=True)], filters=[strip_filter]
    )
    role = SelectField(_l("Role"), choices=ROLE_CHOICES, default="member")
    submit = SubmitField(_l("Create user"))


class UserEditForm(FlaskForm):
    """Name, role and active flag of an existing user."""

    name = StringField(
        _l("Display name"), [Length(max=100), PlainText(name=True)], filters=[strip_filter]
    )
    role = SelectField(_l("Role"), choices=ROLE_CHOICES)
    active = BooleanField(_l("Active (may log in)"))
    submit = SubmitField(_l("Save changes"))

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
                gettext("This is the last active administrator: make another user an admin first.")
            )
            return False
        return True
