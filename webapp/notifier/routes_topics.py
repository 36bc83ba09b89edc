"""``/admin/topics``: the topic catalogue and who may see each topic."""

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext
from sqlalchemy import func, select

from ..auth import admin_view
from ..extensions import db
from .models import Subscription
from .routes_admin import acting_user
from .topic_forms import TopicEditForm
from .topics import all_topics, find_topic, save_topic

bp = Blueprint("topics_admin", __name__, url_prefix="/admin/topics")


def _subscriber_counts():
    query = (
        select(Subscription.topic, func.count(Subscription.id))
        .where(Subscription.subscribed.is_(True))
        .group_by(Subscription.topic)
    )
    return dict(db.session.execute(query).all())


def _save(form, name):
    topic, created = save_topic(
        name,
        title=form.title.data.strip(),
        url=(form.url.data or "").strip(),
        kind=form.kind.data,
        roles=form.roles.data or [],
        users=form.clean_users,
        actor=acting_user(),
    )
    db.session.commit()
    if created:
        flash(gettext("Registered %(topic)s.", topic=name), "success")
    else:
        flash(gettext("Saved %(topic)s.", topic=name), "success")


@bp.route("", methods=["GET", "POST"])
@admin_view
def topic_list():
    """Every topic with its audience, and a form to register one."""
    form = TopicEditForm()
    if form.validate_on_submit():
        _save(form, form.name.data)
        return redirect(url_for(".topic_list"))
    return render_template(
        "notifier/topics_admin.html", topics=all_topics(), counts=_subscriber_counts(), form=form
    )


@bp.route("/<path:name>", methods=["GET", "POST"])
@admin_view
def topic_edit(name):
    """Change a topic's title, link, kind or audience."""
    topic = find_topic(name)
    if topic is None:
        abort(404)
    form = TopicEditForm(existing=topic, obj=topic)
    if not form.is_submitted():
        form.roles.data, form.users.data = topic.roles, "\n".join(topic.users)
    if form.validate_on_submit():
        _save(form, topic.name)
        return redirect(url_for(".topic_list"))
    return render_template("notifier/topic_edit.html", topic=topic, form=form)
