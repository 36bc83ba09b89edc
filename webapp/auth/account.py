"""``/account``: a user's own language and time zone; the navigation bar's language switch."""

import functools
import zoneinfo

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext, refresh
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import ValidationError

from ..config import LOCALES
from ..extensions import db
from ..i18n import LANGUAGE_NAMES, LOCALE_COOKIE
from ..timeutil import utcnow
from .routes import safe_next
from .signals import announce

bp = Blueprint("account", __name__)
COOKIE_SECONDS = 365 * 86400


@functools.cache
def known_zones():
    """Every zone name this machine knows (read from disk once: ~40 ms each time)."""
    return frozenset(zoneinfo.available_timezones())


@functools.cache
def zone_choices():
    """The zones offered in the list: every region/city name, and UTC (legacy aliases such
    as "PRC" or "Etc/GMT-8" are accepted when sent, but not offered)."""
    zones = sorted(
        z
        for z in known_zones()
        if "/" in z and not z.startswith(("Etc/", "SystemV/", "posix/", "right/"))
    )
    return ("UTC", *zones)


class AccountForm(FlaskForm):
    """The user's language and time zone; blank means "the default"."""

    locale = SelectField(_l("Language"), validate_choice=False)
    timezone = SelectField(
        _l("Time zone"),
        validate_choice=False,
        description=_l("Times on every page are shown in this zone, and date filters use it."),
    )
    submit = SubmitField(_l("Save"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        config = current_app.config
        fallback = LANGUAGE_NAMES[config["DEFAULT_LOCALE"]]
        browser = SelectChoice("", gettext("Browser's language (else %(name)s)", name=fallback))
        self.locale.choices = [browser] + [SelectChoice(c, LANGUAGE_NAMES[c]) for c in LOCALES]
        default_zone = SelectChoice(
            "", gettext("Platform default (%(zone)s)", zone=config["DEFAULT_TIMEZONE"])
        )
        self.timezone.choices = [default_zone] + [SelectChoice(z, z) for z in zone_choices()]

    def validate_locale(self, field):
        if field.data and field.data not in LOCALES:
            raise ValidationError(gettext("Choose a language from the list."))

    def validate_timezone(self, field):
        if field.data and field.data not in known_zones():
            raise ValidationError(
                gettext("Choose a time zone from the list, such as Asia/Shanghai.")
            )


class LanguageForm(FlaskForm):
    """The navigation bar's switch: one button per language, and the page to go back to."""

    locale = SelectField(choices=[SelectChoice(c, c) for c in LOCALES])
    next = HiddenField()


def save_account(user, locale, timezone):
    """Store ``user``'s language and zone (None: the defaults); audited when they change."""
    before = {"locale": user.locale, "timezone": user.timezone}
    user.locale, user.timezone = locale, timezone
    changes = {f: [before[f], v] for f, v in (("locale", locale), ("timezone", timezone))}
    changes = {f: pair for f, pair in changes.items() if pair[0] != pair[1]}
    if changes:
        announce("account.updated", target=user.email, changes=changes)
    return changes


@bp.route("/account", methods=["GET", "POST"])
@login_required
def settings():
    """The logged-in user's language and time zone."""
    user = current_user._get_current_object()
    form = AccountForm(data={"locale": user.locale or "", "timezone": user.timezone or ""})
    if form.validate_on_submit():
        changes = save_account(user, form.locale.data or None, form.timezone.data or None)
        db.session.commit()
        refresh()  # the message below is already in the new language
        flash(gettext("Saved.") if changes else gettext("Nothing changed."), "success")
        return redirect(url_for(".settings"))
    status = 400 if request.method == "POST" else 200
    return render_template("auth/account.html", form=form, now=utcnow()), status


@bp.route("/language", methods=["POST"])
def switch_language():
    """Switch language from the navigation bar: saved to the user's account, or kept in a
    cookie for a visitor who is not logged in; then back to the page."""
    form = LanguageForm()
    back = safe_next(form.next.data) or url_for("auth.home")
    if not form.validate_on_submit():
        return redirect(back)
    response = redirect(back)
    if current_user.is_authenticated:
        user = current_user._get_current_object()
        save_account(user, form.locale.data, user.timezone)
        db.session.commit()
    else:
        response.set_cookie(
            LOCALE_COOKIE, form.locale.data, max_age=COOKIE_SECONDS, samesite="Lax",
            secure=request.is_secure, httponly=True,
        )  # fmt: skip
    return response
