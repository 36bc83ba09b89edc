"""Subscription pages: everyone's own (``/account``) and the administrators' overview."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import login_required
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..auth import admin_view
from ..auth.models import User
from ..extensions import db
from ..listing import paginate
from .models import SYSTEM_TOPICS, Subscription
from .routes_admin import acting_user, kept_filters
from .subscription_forms import (
    AdminSubscriptionForm,
    RemoveSubscriptionForm,
    SubscriptionFilterForm,
    SystemTopicForm,
    TopicForm,
)
from .subscriptions import delete_choice, own_topics, set_subscription, system_topics
from .topics import titles, visible_topics

bp = Blueprint("subscriptions", __name__)


def save_choice(user, topic, subscribed, actor):
    """Change and commit; the same change twice at once (a double click) is not an error."""
    try:
        set_subscription(user, topic, subscribed, actor=actor)
        db.session.commit()
    except IntegrityError:  # the unique (user, topic) row refused the second: already done
        db.session.rollback()


@bp.route("/account/subscriptions", methods=["GET", "POST"])
@login_required
def mine():
    """The logged-in user's topics, the catalogue they may pick from, and (admins) the
    system topics."""
    user = acting_user()
    form = TopicForm(user)
    if form.validate_on_submit():
        save_choice(user, form.topic.data, True, actor=user)
        flash(gettext("You are subscribed to %(topic)s.", topic=form.topic.data), "success")
        return redirect(url_for(".mine"))
    search = request.args.get("q", "", type=str).strip()[:100]
    topics = own_topics(user)
    mine_names = {row.topic for row in topics}
    catalogue = [t for t in visible_topics(user, search) if t.name not in mine_names]
    return render_template(
        "notifier/my_subscriptions.html",
        form=form,
        topics=topics,
        titles=titles([row.topic for row in topics]),
        catalogue=catalogue,
        search=search,
        system=system_topics(user) if user.is_admin else [],
    )


def refused(form):
    """Flash why a button's form was refused (the first error is the one that matters)."""
    flash(next(iter(form.errors.values()))[0], "error")


@bp.route("/account/subscriptions/remove", methods=["POST"])
@login_required
def mine_remove():
    """Stop receiving one of your own topics."""
    user = acting_user()
    form = RemoveSubscriptionForm(owner=user)
    if not form.validate_on_submit():
        refused(form)
        return redirect(url_for(".mine"))
    save_choice(user, form.row.topic, False, actor=user)
    flash(gettext("You are no longer subscribed to %(topic)s.", topic=form.row.topic), "success")
    return redirect(url_for(".mine"))


@bp.route("/account/subscriptions/system", methods=["POST"])
@login_required
def mine_system():
    """Opt out of a system topic, or back in (administrators only)."""
    user = acting_user()
    form = SystemTopicForm(user)
    if not form.validate_on_submit():
        refused(form)
        return redirect(url_for(".mine"))
    topic, receive = form.topic.data, form.choice.data == "in"
    save_choice(user, topic, receive, actor=user)
    if receive:
        flash(gettext("You receive %(topic)s again.", topic=topic), "success")
    else:
        flash(gettext("You opted out of %(topic)s.", topic=topic), "success")
    return redirect(url_for(".mine"))


def _filtered_subscriptions(form):
    query = (
        select(Subscription)
        .join(User, User.id == Subscription.user_id)
        .order_by(Subscription.topic, User.email)
    )
    if form.topic.data:
        query = query.where(Subscription.topic == form.topic.data)
    if form.user.data:
        query = query.where(User.email == form.user.data)
    return query


@bp.route("/admin/subscriptions", methods=["GET", "POST"])
@admin_view
def admin_list():
    """Everyone's subscriptions and opt-outs, filterable; add one for any active user."""
    form = AdminSubscriptionForm()
    if form.validate_on_submit():
        user, topic = form.chosen_user, form.topic.data
        save_choice(user, topic, True, actor=acting_user())
        flash(
            gettext("%(email)s is subscribed to %(topic)s.", email=user.email, topic=topic),
            "success",
        )
        return redirect(url_for(".admin_list"))
    filters = SubscriptionFilterForm(formdata=request.args)
    page = paginate(_filtered_subscriptions(filters)) if filters.validate() else None
    ids = {row.user_id for row in page.items} if page else set()
    emails = dict(db.session.execute(select(User.id, User.email).where(User.id.in_(ids))).all())
    return render_template(
        "notifier/subscriptions_admin.html",
        form=form,
        filter_form=filters,
        filters=filters.active_filters() if page else {},
        page=page,
        emails=emails,
        system_topics=SYSTEM_TOPICS,
    )


@bp.route("/admin/subscriptions/remove", methods=["POST"])
@admin_view
def admin_remove():
    """Delete a subscription, or an opt-out (the admin then receives the topic again)."""
    form = RemoveSubscriptionForm()
    if not form.validate_on_submit():
        refused(form)
    else:
        row = form.row
        user = db.session.get(User, row.user_id)
        if row.subscribed:
            done = gettext(
                "Removed the subscription to %(topic)s for %(email)s.",
                topic=row.topic,
                email=user.email,
            )
        else:
            done = gettext(
                "Removed the opt-out of %(topic)s for %(email)s.", topic=row.topic, email=user.email
            )
        delete_choice(row, user, actor=acting_user())
        db.session.commit()
        flash(done, "success")
    return redirect(url_for(".admin_list", **kept_filters(SubscriptionFilterForm)))
