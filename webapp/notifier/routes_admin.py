"""Administrator pages of the notifier: delivery log, API tokens, resource alert thresholds."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from ..audit.record import diff, record_event
from ..auth import admin_view
from ..extensions import db
from ..listing import page_number, paginate
from .delivery_log import filtered_select, recent_counts, resend
from .forms import THRESHOLD_FIELDS, ButtonForm, DeliveryFilterForm, ThresholdsForm, TokenCreateForm
from .labels import STATUS_LABELS
from .models import ApiToken, Delivery, ResourceAlertState
from .monitor import METRICS, load_thresholds
from .tokens import create_token, revoke_token

bp = Blueprint("notifier_admin", __name__, url_prefix="/admin")
MAX_ID = 2**31 - 1  # larger ids cannot exist, and would overflow the database driver


def kept_filters(form_class):
    """The valid filters and page of the current query string, for a redirect back."""
    form = form_class(formdata=request.args)
    if not form.validate():
        return {}
    return {**form.active_filters(), "page": page_number()}


def require_button():
    """Check a button-only form (its CSRF token); 400 when it is not valid."""
    if not ButtonForm().validate_on_submit():
        abort(400)


def acting_user():
    """The logged-in user object, as audit records and token rows want it."""
    return current_user._get_current_object()


@bp.route("/notifications")
@admin_view
def delivery_log():
    """Deliveries newest first, 50 a page, with combinable filters kept in the URL."""
    form = DeliveryFilterForm(formdata=request.args)
    page = paginate(filtered_select(form)) if form.validate() else None
    return render_template(
        "notifier/delivery_log.html",
        form=form,
        page=page,
        filters=form.active_filters() if page else {},
        counts=recent_counts(),
    )


@bp.route(f"/notifications/<int(max={MAX_ID}):delivery_id>/resend", methods=["POST"])
@admin_view
def delivery_resend(delivery_id):
    """Queue a dead delivery again; any other delivery is left alone."""
    delivery = db.get_or_404(Delivery, delivery_id)
    require_button()
    if resend(delivery, acting_user()):
        db.session.commit()
        flash(
            gettext("The delivery to %(recipient)s is queued again.", recipient=delivery.recipient),
            "success",
        )
    else:
        flash(
            gettext(
                "Only dead deliveries can be resent; the one to %(recipient)s is %(status)s. "
                "Nothing changed.",
                recipient=delivery.recipient,
                status=STATUS_LABELS.get(delivery.status, delivery.status),
            ),
            "warning",
        )
    return redirect(url_for(".delivery_log", **kept_filters(DeliveryFilterForm)))


def _token_page(form, created=None):
    tokens = db.session.scalars(
        select(ApiToken).order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    ).all()
    return render_template("notifier/tokens.html", form=form, tokens=tokens, created=created)


@bp.route("/tokens", methods=["GET", "POST"])
@admin_view
def token_list():
    """The API tokens; a new token's plaintext is shown once, in this POST's response only."""
    form = TokenCreateForm()
    if not form.validate_on_submit():
        return _token_page(form)
    try:
        row, plaintext = create_token(form.name.data, acting_user())
        db.session.commit()
    except IntegrityError:  # the same name, created by someone else a moment ago
        db.session.rollback()
        form.name.errors.append(
            gettext("A token named %(name)s already exists.", name=repr(form.name.data))
        )
        return _token_page(form)
    return _token_page(TokenCreateForm(formdata=None), {"name": row.name, "plaintext": plaintext})


@bp.route(f"/tokens/<int(max={MAX_ID}):token_id>/revoke", methods=["POST"])
@admin_view
def token_revoke(token_id):
    """Revoke a token: requests that present it are refused from now on."""
    row = db.get_or_404(ApiToken, token_id)
    require_button()
    if row.revoked_at is not None:
        flash(gettext("The token %(name)s was already revoked.", name=row.name), "info")
    else:
        revoke_token(row, acting_user())
        db.session.commit()
        revoked = gettext(
            "The token %(name)s is revoked; requests that use it are refused.", name=row.name
        )
        flash(revoked, "success")
    return redirect(url_for(".token_list"))


@bp.route("/settings/email/resource-alerts", methods=["GET", "POST"])
@admin_view
def resource_alerts():
    """The resource monitor's thresholds, and what it saw last."""
    row = load_thresholds()
    form = ThresholdsForm(obj=row)
    if form.validate_on_submit():
        values = form.values()
        changes = diff({f: getattr(row, f) for f in THRESHOLD_FIELDS}, values)
        if not changes:
            flash(gettext("Nothing changed."), "info")
            return redirect(url_for(".resource_alerts"))
        for field, value in values.items():
            setattr(row, field, value)
        if inspect(row).transient:
            db.session.add(row)
        record_event("resource_thresholds.updated", target="resource-alerts", changes=changes)
        try:
            db.session.commit()
        except IntegrityError:  # two first saves at once: the other one created the row
            db.session.rollback()
            flash(
                gettext("Another administrator saved the thresholds just now. Check them."),
                "warning",
            )
            return redirect(url_for(".resource_alerts"))
        flash(gettext("Resource alert thresholds saved."), "success")
        return redirect(url_for(".resource_alerts"))
    order = list(METRICS)
    states = sorted(
        db.session.scalars(select(ResourceAlertState)),
        key=lambda state: order.index(state.metric) if state.metric in order else len(order),
    )
    return render_template(
        "notifier/resource_alerts.html", form=form, states=states, metrics=METRICS
    )
