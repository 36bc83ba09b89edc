"""The audit review page and its streamed CSV export."""

import csv
import io

from flask import Blueprint, Response, current_app, render_template, request, stream_with_context
from flask_babel import gettext

from ..auth import admin_view
from ..database import write_transaction
from ..extensions import db
from ..listing import paginate
from .filters import AuditFilterForm, filtered_select, known_actions
from .models import AuditEvent
from .record import record_event

bp = Blueprint("audit", __name__, url_prefix="/admin")

CSV_COLUMNS = ("time", "actor", "action", "target", "changes", "ip")
# A spreadsheet may run a cell starting with these: the fullwidth ＝＋－＠ too, which some
# normalise to =+-@ (East Asian locales), and | which starts a DDE payload in some.
FORMULA_STARTS = ("=", "+", "-", "@", "|", "＝", "＋", "－", "＠")
# CR, LF and the other control characters become visible escapes such as "\\n".
_CONTROLS = [chr(i) for i in range(32)] + ["\x7f", "\u2028", "\u2029"]
_VISIBLE_CONTROLS = {ord(c): repr(c)[1:-1] for c in _CONTROLS}


@bp.route("/audit")
@admin_view
def review():
    """Events newest first, 50 a page, with combinable filters kept in the URL."""
    form = AuditFilterForm(formdata=request.args)
    page = None
    if form.validate():
        page = paginate(filtered_select(form), current_app.config["AUDIT_PAGE_SIZE"])
    return render_template(
        "audit/review.html",
        form=form,
        page=page,
        filters=form.active_filters() if page else {},
        known_actions=known_actions(),
    )


def csv_cell(value):
    """A cell that no spreadsheet runs as a formula and that cannot break a row."""
    text = "" if value is None else str(value).translate(_VISIBLE_CONTROLS)
    if text.startswith(FORMULA_STARTS):
        text = "'" + text
    return text


def _csv_rows(query):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    # Only the exported columns: full model objects would double the time of an export.
    columns = query.with_only_columns(
        AuditEvent.created_at,
        AuditEvent.actor,
        AuditEvent.action,
        AuditEvent.target,
        AuditEvent.changes,
        AuditEvent.ip,
    )
    rows = db.session.execute(columns.execution_options(yield_per=1000))
    for count, (created_at, *cells) in enumerate(rows, 1):
        time = created_at.isoformat(timespec="seconds") + "Z"
        writer.writerow([time, *(csv_cell(c) for c in cells)])
        if count % 1000 == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def _filter_changes(form):
    return {name: [None, value] for name, value in form.active_filters().items()}


@bp.route("/audit.csv")
@admin_view
def export_csv():
    """The filtered events as CSV, streamed so memory stays flat; the export is audited."""
    form = AuditFilterForm(formdata=request.args)
    if not form.validate():
        errors = "; ".join(f"{f}: {e[0]}" for f, e in form.errors.items())
        text = gettext("Invalid filter: %(errors)s", errors=errors)
        return Response(text + "\n", status=400, mimetype="text/plain")
    with write_transaction():
        record_event("audit.exported", target="audit.csv", changes=_filter_changes(form))
    response = Response(stream_with_context(_csv_rows(filtered_select(form))), mimetype="text/csv")
    response.headers["Content-Disposition"] = "attachment; filename=audit-log.csv"
    return response
