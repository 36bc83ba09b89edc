"""One budget of messages a minute shared by every worker: a counter row per minute."""

from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..database import is_postgresql
from ..extensions import db
from ..timeutil import utcnow
from .models import SendRate


def _ensure_row(minute):
    dialect = postgresql if is_postgresql() else sqlite
    db.session.execute(
        dialect.insert(SendRate).values(minute=minute, sent=0).on_conflict_do_nothing()
    )


def take(limit, wanted):
    """Up to ``wanted`` sends from this minute's budget of ``limit`` (0: no limit).

    Returns ``(granted, seconds until the next minute)`` and commits: the counter is shared
    by all workers, so it must not stay locked while the messages go out.
    """
    if not limit:
        return wanted, 0.0
    now = utcnow()
    minute = now.replace(second=0, microsecond=0)
    wait = (minute + timedelta(minutes=1) - now).total_seconds()
    _ensure_row(minute)
    for _ in range(5):  # another worker may take from the same minute in between
        sent = db.session.scalar(select(SendRate.sent).where(SendRate.minute == minute))
        granted = min(wanted, limit - sent)
        if granted <= 0:
            break
        # The condition is checked again under the row lock: two workers never overdraw.
        done = db.session.execute(
            update(SendRate)
            .where(SendRate.minute == minute, SendRate.sent + granted <= limit)
            .values(sent=SendRate.sent + granted)
        )
        if done.rowcount:
            db.session.execute(
                delete(SendRate).where(SendRate.minute < minute - timedelta(hours=1))
            )
            db.session.commit()
            return granted, wait
    db.session.commit()
    return 0, wait
