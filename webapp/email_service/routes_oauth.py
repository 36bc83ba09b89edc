"""Delegated OAuth sign-in as the sender mailbox: authorization code with PKCE, redirecting
back to ``BASE_URL``, or a device code when this server's address cannot be registered."""

import secrets

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l

from ..audit.record import record_event, secret_change
from ..auth import admin_view
from ..extensions import db
from .encryption import UndecryptableSecret
from .hints import explain
from .models import load_settings
from .oauth import (
    TOKENS,
    TokenFailed,
    authorization_url,
    exchange_code,
    poll_device_flow,
    start_device_flow,
)
from .oauth_settings import oauth_client
from .replies import StepFailed
from .routes import bp
from .service import release_hold
from .transport import SmtpParams

PENDING = "email_oauth"  # session key: the sign-in under way (state, PKCE verifier, app)
MESSAGES = {
    "not_ready": _l(
        "Save the settings with Microsoft 365 or Google, delegated sign-in, the client ID and "
        "the client secret first; then sign in."
    ),
    "state": _l(
        "The sign-in could not be matched to one started here (it may have been started in "
        "another tab or has expired). Start it again."
    ),
    "denied": _l("The sign-in was not completed: %(error)s."),
    "signed_in": _l("Signed in as %(account)s. The platform now sends mail as this mailbox."),
    "pending": _l(
        "Microsoft has not seen the sign-in yet. Enter the code at %(uri)s, then press the "
        "button again."
    ),
    "signed_out": _l("Signed out: the stored refresh token was deleted."),
}


def _stored_client():
    """The stored app registration for delegated sign-in, or None when it is incomplete."""
    row = load_settings()
    if not row.uses_oauth or row.oauth_flow != "delegated" or not row.oauth_client_id:
        return row, None
    try:
        secret = row.oauth_secret_for(row.oauth_target)
    except UndecryptableSecret:  # the keys changed: the secret must be entered again
        secret = None
    if not secret:
        return row, None
    return row, oauth_client(row, row.auth_method, row.oauth_tenant, row.oauth_client_id,
                             row.oauth_flow, secret)  # fmt: skip


def _redirect_uri():
    # Never from the request's Host: the provider redirects only to the registered BASE_URL.
    return current_app.config["BASE_URL"] + url_for("email_service.oauth_callback")


def _back(message_key, category="error", **values):
    text = str(MESSAGES[message_key])  # a str: the session cannot store a lazy string
    flash(text % values if values else text, category)
    return redirect(url_for("email_service.settings_page"))


def _failed(client, failure, row):
    step = StepFailed("token", failure.kind, detail=failure.detail)
    params = SmtpParams(row.smtp_host, row.smtp_port, row.security, row.effective_login,
                        oauth=client)  # fmt: skip
    flash(str(explain(step, params)), "error")
    return redirect(url_for("email_service.settings_page"))


def _store(token):
    """Keep the refresh token (encrypted, bound to the app), audit it, lift a hold."""
    row = load_settings(for_update=True)
    had = bool(row.oauth_refresh_encrypted)
    account = row.effective_login
    row.set_refresh_token(token.refresh_token, account)
    record_event(
        "email_settings.signed_in",
        target="email-service",
        changes={"oauth_refresh_token": secret_change(had, True), "account": [None, account]},
    )
    release_hold("sign-in")
    TOKENS.clear()  # the next delivery uses the new sign-in
    db.session.commit()
    return _back("signed_in", "success", account=account)


@bp.route("/oauth/start", methods=["POST"])
@admin_view
def oauth_start():
    """Send the administrator to the provider to sign in as the sender mailbox."""
    row, client = _stored_client()
    if client is None:
        return _back("not_ready")
    state, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    session[PENDING] = {"state": state, "verifier": verifier, "app": list(row.oauth_target)}
    return redirect(authorization_url(client, _redirect_uri(), state, verifier))


@bp.route("/oauth/callback", methods=["GET"])
@admin_view
def oauth_callback():
    """The provider's redirect back with a code: exchange it and keep the refresh token."""
    pending = session.pop(PENDING, None) or {}
    row, client = _stored_client()
    state = request.args.get("state", "")
    if client is None or not pending or not secrets.compare_digest(state, pending["state"]):
        return _back("state")
    if pending["app"] != list(row.oauth_target):
        return _back("state")  # the settings changed while the admin was signing in
    if "error" in request.args:
        error = request.args.get("error_description") or request.args.get("error", "")
        return _back("denied", error=error[:300])
    try:
        token = exchange_code(client, _redirect_uri(), request.args.get("code", ""),
                              pending["verifier"], current_app.config["SMTP_TIMEOUT"])  # fmt: skip
    except TokenFailed as failure:
        return _failed(client, failure, row)
    return _store(token)


@bp.route("/oauth/device", methods=["POST"])
@admin_view
def oauth_device():
    """Microsoft only: show a code to enter on any device, for servers with no public URL."""
    row, client = _stored_client()
    if client is None or client.provider != "microsoft":
        return _back("not_ready")
    try:
        flow = start_device_flow(client, current_app.config["SMTP_TIMEOUT"])
    except TokenFailed as failure:
        return _failed(client, failure, row)
    session[PENDING] = {"device_code": flow["device_code"], "app": list(row.oauth_target),
                        "uri": flow.get("verification_uri", "")}  # fmt: skip
    return render_template("email_service/device_code.html", flow=flow)


@bp.route("/oauth/device/check", methods=["POST"])
@admin_view
def oauth_device_check():
    """Ask Microsoft whether the device-code sign-in is done; store it when it is."""
    pending = session.get(PENDING) or {}
    row, client = _stored_client()
    if client is None or "device_code" not in pending or pending["app"] != list(row.oauth_target):
        return _back("state")
    try:
        token = poll_device_flow(client, pending["device_code"], current_app.config["SMTP_TIMEOUT"])
    except TokenFailed as failure:
        session.pop(PENDING, None)
        return _failed(client, failure, row)
    if token is None:
        return _back("pending", "info", uri=pending["uri"])
    session.pop(PENDING, None)
    return _store(token)


@bp.route("/oauth/sign-out", methods=["POST"])
@admin_view
def oauth_sign_out():
    """Delete the stored refresh token."""
    row = load_settings(for_update=True)
    if row.oauth_refresh_encrypted:
        row.set_refresh_token(None, None)
        record_event("email_settings.signed_out", target="email-service",
                     changes={"oauth_refresh_token": secret_change(True, False)})  # fmt: skip
        TOKENS.clear()
        db.session.commit()
    return _back("signed_out", "success")
