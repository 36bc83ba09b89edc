"""Filtered, paginated admin lists: the filter form bases, the page number, a date range."""

from datetime import date, datetime, time, timedelta

from flask import request
from flask_wtf import FlaskForm
from wtforms import DateField
from wtforms.validators import Optional, ValidationError

from .extensions import db

# A range ends before "until + 1 day", so 9999-12-31 would overflow; years before 2000 are typos.
EARLIEST, LATEST = date(2000, 1, 1), date(9998, 12, 31)


def plausible_date(form, field):
    """Refuse a date outside ``EARLIEST``..``LATEST``."""
    if field.data is not None and not EARLIEST <= field.data <= LATEST:
        raise ValidationError(f"Enter a date between {EARLIEST} and {LATEST}.")


class FilterForm(FlaskForm):
    """A GET form that only reads: no CSRF token, its values kept in the page links."""

    class Meta:
        csrf = False

    def active_filters(self):
        """The filters that were given, as query-string values, for links that keep them."""
        return {
            name: value.isoformat() if hasattr(value, "isoformat") else value
            for name, value in self.data.items()
            if value
        }


class DateRangeFilterForm(FilterForm):
    """A filter form with a UTC date range; the end may not come before the start."""

    since = DateField("From (UTC)", [Optional(), plausible_date])
    until = DateField("To (UTC)", [Optional(), plausible_date])

    def validate_until(self, field):
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError("The end date is before the start date.")


def page_number():
    """The ``page`` query argument, or 1 when it is missing or not a sane number."""
    value = request.args.get("page", "1")
    sane = value.isascii() and value.isdigit() and len(value) <= 6  # "²" is a digit too
    return int(value) if sane and int(value) > 0 else 1


def paginate(query, per_page=50):
    """One page of ``query``, its number taken from the query string."""
    return db.paginate(query, page=page_number(), per_page=per_page, error_out=False)


def within_dates(query, column, since, until):
    """``query`` limited to ``since`` ≤ column < the day after ``until`` (UTC dates)."""
    if since:
        query = query.where(column >= datetime.combine(since, time()))
    if until:
        query = query.where(column < datetime.combine(until + timedelta(days=1), time()))
    return query
