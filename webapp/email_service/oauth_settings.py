"""The OAuth side of the stored settings: its input rules, the client it builds, the
secrets it keeps (client secret, rotated refresh tokens) and the notifier's token."""

from flask import current_app
from flask_babel import lazy_gettext as _l

from ..audit.record import secret_change
from .encryption import UndecryptableSecret
from .hints import explain
from .models import PasswordNotBound, app_target, load_settings
from .oauth import TOKENS, TokenFailed, make_client
from .replies import StepFailed
from .transport import SmtpParams

OAUTH_ERRORS = {
    "secret": _l("Enter the client secret (its Value, not its Secret ID)."),
    "secret_retype": _l(
        "You changed the provider, tenant or client ID: enter the client secret again. A "
        "stored secret is only ever sent for the app it was entered for."
    ),
    "secret_unreadable": _l(
        "The stored client secret can no longer be decrypted (the encryption keys changed): "
        "enter it again."
    ),
    "tenant": _l(
        "Enter the Directory (tenant) ID, or your domain such as contoso.onmicrosoft.com."
    ),
    "client_id": _l("Enter the Application (client) ID of the app registration."),
    "plaintext": _l("OAuth tokens are only sent encrypted: choose SSL or TLS."),
}


def oauth_errors(row, values):
    """``{field: message}`` for the OAuth fields (no password is sent with OAuth)."""
    errors = {}
    if values.auth_method == "microsoft" and not values.oauth_tenant:
        errors["oauth_tenant"] = OAUTH_ERRORS["tenant"]
    if not values.oauth_client_id:
        errors["oauth_client_id"] = OAUTH_ERRORS["client_id"]
    if not values.oauth_client_secret:
        try:
            if row.oauth_secret_for(values.app_target) is None:
                errors["oauth_client_secret"] = OAUTH_ERRORS["secret"]
        except PasswordNotBound:
            errors["oauth_client_secret"] = OAUTH_ERRORS["secret_retype"]
        except UndecryptableSecret:
            errors["oauth_client_secret"] = OAUTH_ERRORS["secret_unreadable"]
    if values.security == "none":
        errors["security"] = OAUTH_ERRORS["plaintext"]
    return errors


def stored_refresh_token(row, target):
    try:
        return row.refresh_token_for(target)
    except (PasswordNotBound, UndecryptableSecret):
        return None  # issued to another app, or unreadable: sign in again


def oauth_client(row, method, tenant, client_id, flow, secret):
    target = app_target(method, tenant, client_id)
    refresh_token = stored_refresh_token(row, target)
    signed_in = row.oauth_signed_in_at.isoformat() if refresh_token else ""
    return make_client(current_app.config, method, flow, tenant or "", client_id or "",
                       secret, refresh_token, signed_in)  # fmt: skip


def keep_rotated_refresh_token(client, new_token):
    """Store the refresh token the provider gave in exchange for the stored one (Microsoft
    retires the old one), if the stored sign-in is still the one it replaces."""
    if not new_token or client is None or new_token == client.refresh_token:
        return
    row = load_settings(for_update=True)
    target = app_target(client.provider, client.tenant, client.client_id)
    if row.oauth_target == target and stored_refresh_token(row, target) == client.refresh_token:
        row.set_refresh_token(new_token, row.oauth_account, rotated=True)


class DeliveryBlocked(Exception):
    """The notifier cannot log in with the stored settings; ``reason`` (a ``Hint``) says why
    in words, ``temporary`` whether trying again later may work (the sign-in service was
    down)."""

    def __init__(self, reason, temporary=False):
        super().__init__(reason)
        self.reason, self.temporary = reason, temporary


def oauth_session_params(row):
    """The notifier's parameters for OAuth: a token from this process's cache, refreshed
    before it expires; a refresh token the provider rotated is stored (the caller commits).
    DeliveryBlocked when no token can be had."""
    secret = row.oauth_secret_for(row.oauth_target)
    client = oauth_client(row, row.auth_method, row.oauth_tenant, row.oauth_client_id,
                          row.oauth_flow, secret)  # fmt: skip
    params = SmtpParams(row.smtp_host, row.smtp_port, row.security, row.effective_login,
                        oauth=client)  # fmt: skip
    try:
        token = TOKENS.get(client, current_app.config["SMTP_TIMEOUT"])
    except TokenFailed as failure:
        step = StepFailed("token", failure.kind, detail=failure.detail)
        temporary = failure.kind in ("oauth_unreachable", "oauth_timeout")
        raise DeliveryBlocked(explain(step, params), temporary) from None
    keep_rotated_refresh_token(client, token.refresh_token)
    params.access_token = token.access_token
    return params


def oauth_secret_change(row, values):
    """Apply the client secret and keep the refresh token only for the app it was issued
    to; the audit markers, never the values."""
    changes = {}
    if values.uses_oauth and values.oauth_client_secret:
        try:
            same = row.oauth_secret_for(row.oauth_target) == values.oauth_client_secret
        except (PasswordNotBound, UndecryptableSecret):
            same = False
        if not same:
            changes["oauth_client_secret"] = secret_change(bool(row.oauth_secret_encrypted), True)
            row.set_oauth_secret(values.oauth_client_secret)
    if row.oauth_refresh_encrypted and stored_refresh_token(row, row.oauth_target) is None:
        row.set_refresh_token(None, None)
        changes["oauth_refresh_token"] = secret_change(True, False)
    return changes
