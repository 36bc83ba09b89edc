"""``/unsubscribe/<token>``: the mailed link's confirmation page and RFC 8058 one-click POST."""

from flask import Blueprint, render_template

from ..auth.models import User
from ..extensions import csrf, db
from .subscriptions import receives, set_subscription
from .topics import find_topic
from .unsubscribe import read_link_token

bp = Blueprint("unsubscribe", __name__)


def _resolve(token):
    """``(user, topic name, topic)`` named by a valid link, or None."""
    found = read_link_token(token)
    user = db.session.get(User, found[0]) if found else None
    if user is None:
        return None
    return user, found[1], find_topic(found[1])


@bp.route("/unsubscribe/<token>", methods=["GET"])
def confirm(token):
    """Ask before unsubscribing: link scanners follow GETs, people press the button."""
    found = _resolve(token)
    if found is None:
        return render_template("notifier/unsubscribe.html", invalid=True), 404
    user, name, topic = found
    return render_template(
        "notifier/unsubscribe.html",
        user=user,
        name=name,
        topic=topic,
        subscribed=receives(user, name),
        token=token,
    )


@bp.route("/unsubscribe/<token>", methods=["POST"])
@csrf.exempt  # RFC 8058: the mail provider posts "List-Unsubscribe=One-Click" with no cookie
def one_click(token):
    """Unsubscribe the link's recipient from its topic; audited, and idempotent."""
    found = _resolve(token)
    if found is None:
        return render_template("notifier/unsubscribe.html", invalid=True), 404
    user, name, topic = found
    set_subscription(user, name, False, actor=user, action="subscription.unsubscribed")
    db.session.commit()
    return render_template(
        "notifier/unsubscribe.html", user=user, name=name, topic=topic, done=True
    )
