"""How the notifier's codes are shown on pages: statuses, kinds, system topic titles.

The codes themselves (``retrying``, ``task_failure``) stay in the database, the API, the
CSV and the filters' query strings; only their labels are translated.
"""

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext

from .models import KINDS, STATUSES, TOPIC_KINDS

STATUS_LABELS = {
    "queued": lazy_pgettext("delivery status", "queued"),
    "sending": lazy_pgettext("delivery status", "sending"),
    "sent": lazy_pgettext("delivery status", "sent"),
    "retrying": lazy_pgettext("delivery status", "retrying"),
    "held": lazy_pgettext("delivery status", "held"),
    "dead": lazy_pgettext("delivery status", "dead"),
}
KIND_LABELS = {
    "subscription": _l("Subscription"),
    "alert": _l("Alert"),
    "task_failure": _l("Task failure"),
    "resource_alert": _l("Resource alert"),
}
TOPIC_KIND_LABELS = {
    "card": _l("Card"),
    "page": _l("Page"),
    "task": _l("Task"),
    "system": _l("System"),
}
# The system topics' titles as migration 0008 stores them; a title an admin changed is
# shown as it is.
SYSTEM_TOPIC_TITLES = {
    ("task-failures", "Task failures"): _l("Task failures"),
    ("resource-alerts", "Server resource alerts"): _l("Server resource alerts"),
}
assert set(STATUS_LABELS) == set(STATUSES) and set(KIND_LABELS) == set(KINDS)
assert set(TOPIC_KIND_LABELS) == set(TOPIC_KINDS)


def topic_title(topic):
    """A topic's title as shown: a system topic's stored English title is translated."""
    return SYSTEM_TOPIC_TITLES.get((topic.name, topic.title), topic.title)


def register_labels(app):
    """Give the templates the label tables."""
    app.jinja_env.globals.update(
        status_label=lambda code: STATUS_LABELS.get(code, code),
        kind_label=lambda code: KIND_LABELS.get(code, code),
        topic_kind_label=lambda code: TOPIC_KIND_LABELS.get(code, code),
        topic_title=topic_title,
    )
