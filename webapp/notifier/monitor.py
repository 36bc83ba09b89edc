"""Server resource monitor: alert ``resource-alerts`` once per crossing, and on recovery."""

import os
import socket
from datetime import timedelta

import psutil
from flask_babel import force_locale, gettext
from flask_babel import lazy_gettext as _l

from ..database import is_postgresql
from ..extensions import db
from ..timeutil import utcnow
from .models import ResourceAlertState, ResourceThresholds
from .outbox import enqueue

METRICS = {
    "disk": ("disk_percent", _l("Disk usage"), "%"),
    "memory": ("memory_percent", _l("Memory usage"), "%"),
    "load": ("load_per_core", _l("Load per CPU core"), ""),
}
CREATED_BY = "system:resource-monitor"


def read_resources(path="/"):
    """Current disk and memory use (percent) and 1-minute load per core."""
    return {
        "disk": psutil.disk_usage(path).percent,
        "memory": psutil.virtual_memory().percent,
        "load": round(os.getloadavg()[0] / (psutil.cpu_count() or 1), 2),
    }


def load_thresholds():
    """The thresholds row (defaults before an admin saves any)."""
    row = db.session.get(ResourceThresholds, 1)
    if row is None:
        row = ResourceThresholds(
            id=1, disk_percent=90.0, memory_percent=90.0, load_per_core=2.0, cooldown_minutes=30
        )
    return row


def _state(metric):
    query = db.select(ResourceAlertState).where(ResourceAlertState.metric == metric)
    if is_postgresql():
        query = query.with_for_update()  # two workers checking at once alert once
    row = db.session.scalar(query)
    if row is None:
        row = ResourceAlertState(metric=metric, alerting=False)
        db.session.add(row)
    return row


def alert_wording(data):
    """``(subject, text)`` of a resource alert in the current language, from its data."""
    _, label, unit = METRICS[data["metric"]]
    values = {
        "label": label,
        "host": data["host"],
        "value": f"{data['value']}{unit}",
        "threshold": f"{data['threshold']}{unit}",
    }
    if data["recovered"]:
        subject = gettext("Recovered: %(label)s on %(host)s is back to %(value)s", **values)
        text = gettext(
            "%(label)s on %(host)s is %(value)s, below the threshold of %(threshold)s again.",
            **values,
        )
    else:
        subject = gettext("%(label)s on %(host)s is %(value)s (threshold %(threshold)s)", **values)
        text = gettext(
            "%(label)s on %(host)s reached %(value)s (threshold %(threshold)s).", **values
        )
    return subject, text


def _alert(metric, value, threshold, recovered):
    data = {
        "metric": metric,
        "value": value,
        "threshold": threshold,
        "host": socket.gethostname(),
        "recovered": recovered,
    }
    # The stored copy (delivery log, API status) is English; each recipient's message is
    # worded again in their language from the data (notifier.messages).
    with force_locale("en"):
        subject, text = alert_wording(data)
    enqueue(kind="resource_alert", subject=subject, text=text, data=data, created_by=CREATED_BY)


def check_resources(readings=None):
    """One pass: compare ``readings`` (default: this server's) with the thresholds.

    A metric alerts when it crosses its threshold, unless it alerted within the cooldown
    (a flapping metric sends one mail, not one a minute), and once when it recovers.
    Returns the list of ``(metric, event)`` sent, event being "alert" or "recovered".
    """
    readings = readings if readings is not None else read_resources()
    limits = load_thresholds()
    now = utcnow()
    cooldown = timedelta(minutes=limits.cooldown_minutes)
    sent = []
    for metric, value in readings.items():
        threshold = getattr(limits, METRICS[metric][0])
        state = _state(metric)
        state.last_value, state.checked_at = value, now
        if value >= threshold and not state.alerting:
            state.alerting, state.since = True, now
            if state.last_alert_at is None or now - state.last_alert_at >= cooldown:
                _alert(metric, value, threshold, recovered=False)
                state.last_alert_at = now
                sent.append((metric, "alert"))
        elif value < threshold and state.alerting:
            state.alerting = False
            # Only a crossing that was announced gets its recovery announced.
            if state.last_alert_at is not None and state.last_alert_at >= state.since:
                _alert(metric, value, threshold, recovered=True)
                sent.append((metric, "recovered"))
    return sent
