"""Enterprise Settings → Email Service: the page, Save, and Test Connection."""

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import force_locale, gettext
from flask_login import current_user
from limits import parse

from ..auth import admin_view
from ..auth.models import User
from ..config import LOCALES
from ..extensions import db, limiter
from ..negotiation import wants_json
from ..pages import CSP
from . import presets, service
from .diagnosis import diagnose_connection
from .forms import EmailSettingsForm
from .hints import stored_wording
from .models import load_settings
from .oauth_settings import keep_rotated_refresh_token
from .replies import STEP_LABELS

# One budget for every outbound connection the web makes (Test, or Save's check).
PROBE_BUDGET = parse("10 per minute")
bp = Blueprint("email_service", __name__, url_prefix="/admin/settings/email")


def _per_admin():
    return f"admin:{current_user.get_id() or request.remote_addr}"


def _sign_in_policy():
    """The page's Content-Security-Policy: its sign-in buttons post to this server, which
    redirects to the provider, and browsers check that redirect against form-action."""
    origins = sorted(
        {"{0.scheme}://{0.netloc}".format(urlsplit(current_app.config[name]))
         for name in ("OAUTH_MICROSOFT_AUTHORITY", "OAUTH_GOOGLE_AUTH_URL")}
    )  # fmt: skip
    return CSP.replace("form-action 'self'", "form-action 'self' " + " ".join(origins))


def _page(form, diagnosis=None, status=200, offer_unverified=False, action="save"):
    return (
        render_template(
            "email_service/settings.html",
            form=form,
            diagnosis=diagnosis,
            presets=presets.FOR_BROWSER,
            presets_json=presets.browser_json(),
            step_labels=STEP_LABELS,
            hold_reason=stored_wording(form.stored.hold_reason) if form.stored.hold_reason else "",
            offer_unverified=offer_unverified,
            action=action,
            status_lines=[line() for line in current_app.extensions.get("email_status_lines", [])],
        ),
        status,
        {"Content-Security-Policy": _sign_in_policy()},
    )


def _release_database():
    # A check may take SMTP_TIMEOUT seconds: no transaction (and on SQLite no write
    # lock) may stay open meanwhile. Nothing is pending here; this only ends the read.
    db.session.commit()


@bp.route("", methods=["GET"])
@admin_view
def settings_page():
    """The form with the stored values; the password field is always empty."""
    return _page(EmailSettingsForm(load_settings()))


@bp.route("", methods=["POST"])
@limiter.limit("30 per minute", key_func=_per_admin, scope="email-save")
@admin_view
def save():
    """Validate, check the connection (no mail sent), then store; or apply a preset."""
    row = load_settings()
    form = EmailSettingsForm(row)
    if form.apply_preset.data:
        return _apply_preset(form)
    values = form.validate() and form.values()
    errors = values and service.input_errors(row, values)
    if not values or errors:
        form.add_errors(errors or {})
        return _page(form)
    verification = "not needed (service disabled)"
    if values.enabled and not form.save_unverified.data:
        diagnosis = _check(row, values, trigger="save")
        if not diagnosis.ok:
            return _page(form, diagnosis, offer_unverified=True)
        verification = "passed"
    elif values.enabled:
        verification = "skipped"
    try:
        service.save_settings(
            load_settings(for_update=True),
            values,
            current_user,
            verification,
            form.submitted_version(),
        )
    except service.StaleSettings as stale:
        db.session.rollback()
        form.add_errors({"version": str(stale)})
        return _page(form)
    db.session.commit()
    if verification == "passed":
        flash(gettext("Email settings saved. The connection check passed."), "success")
    else:
        flash(gettext("Email settings saved."), "success")
    return redirect(url_for("email_service.settings_page"))


def _check(row, values, trigger, test_email=None):
    """Connect with ``values`` (one budget for every connection the web makes), and audit it."""
    if limiter.enabled and not limiter.limiter.hit(PROBE_BUDGET, "smtp-probe", _per_admin()):
        abort(429)
    params, tested_stored = (
        service.connection_params(row, values),
        service.tests_stored(row, values),
    )
    test_locale = test_email and _recipient_locale(test_email)
    _release_database()
    diagnosis = diagnose_connection(
        params,
        sender_email=values.sender_email,
        sender_name=values.sender_name or "",
        test_email=test_email,
        test_locale=test_locale,
    )
    service.record_test(params, diagnosis, tested_stored and trigger == "test", trigger)
    keep_rotated_refresh_token(params.oauth, diagnosis.refresh_token)
    db.session.commit()
    return diagnosis


def _recipient_locale(address):
    """The language the test email is written in: its recipient's, when the address has an
    account that chose one, else ``DEFAULT_LOCALE``."""
    locale = db.session.scalar(
        db.select(User.locale).where(db.func.lower(User.email) == address.lower())
    )
    return locale if locale in LOCALES else current_app.config["DEFAULT_LOCALE"]


def _apply_preset(form):
    """Fill server, port, security and delivery limits from the chosen preset (no script)."""
    preset = presets.FOR_BROWSER.get(form.preset.data)
    if preset:
        for name in presets.FIELDS:
            getattr(form, name).data = preset[name]
    elif form.preset.data != "other":
        form.preset.errors = [gettext("Choose one of the listed providers, or Other.")]
    return _page(form)


@bp.route("/test", methods=["POST"])
@admin_view
def test_connection():
    """Run Test Connection with the unsaved form values; HTML, or JSON when asked.

    The JSON answer is read by programs and stays English, like the rest of the JSON API.
    """
    if wants_json():
        with force_locale("en"):
            return _test_connection()
    return _test_connection()


def _test_connection():
    row = load_settings()
    form = EmailSettingsForm(row)
    values = form.validate(for_test=True) and form.values()
    errors = values and service.input_errors(row, values)
    if not values or errors:
        form.add_errors(errors or {})
        if wants_json():
            errors = {name: str(messages[0]) for name, messages in form.errors.items()}
            return jsonify({"ok": False, "errors": errors}), 400
        return _page(form, action="test")
    diagnosis = _check(row, values, trigger="test", test_email=values.test_email)
    if wants_json():
        return jsonify(diagnosis.as_dict())
    return _page(form, diagnosis, action="test")
