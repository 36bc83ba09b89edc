"""Filtered, paginated admin lists: the filter form bases, the page number, a date range."""

from datetime import date, timedelta

from flask import request
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField
from wtforms.validators import Optional, ValidationError

from .extensions import db
from .i18n import day_start_utc, time_zone_name

# A range ends before "until + 1 day", so 9999-12-31 would overflow; years before 2000 are typos.
EARLIEST, LATEST = date(2000, 1, 1), date(9998, 12, 31)


def plausible_date(form, field):
    """Refuse a date outside ``EARLIEST``..``LATEST``."""
    if field.data is not None and not EARLIEST <= field.data <= LATEST:
        raise ValidationError(
            gettext("Enter a date between %(first)s and %(last)s.", first=EARLIEST, last=LATEST)
        )


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
    """A filter form with a range of dates in the user's time zone (named in the labels);
    the end may not come before the start."""

    since = DateField(_l("From"), [Optional(), plausible_date])
    until = DateField(_l("To"), [Optional(), plausible_date])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        zone = time_zone_name()
        self.since.label.text = gettext("From (%(zone)s)", zone=zone)
        self.until.label.text = gettext("To (%(zone)s)", zone=zone)

    def validate_until(self, field):
        if field.data and self.since.data and field.data < self.since.data:
            raise ValidationError(gettext("The end date is before the start date."))


def page_number():
    """The ``page`` query argument, or 1 when it is missing or not a sane number."""
    value = request.args.get("page", "1")
    sane = value.isascii() and value.isdigit() and len(value) <= 6  # "²" is a digit too
    return int(value) if sane and int(value) > 0 else 1


def paginate(query, per_page=50):
    """One page of ``query``, its number taken from the query string."""
    return db.paginate(query, page=page_number(), per_page=per_page, error_out=False)


def within_dates(query, column, since, until):
    """``query`` limited to the start of ``since`` ≤ column < the start of the day after
    ``until``, both dates in the user's time zone (the column holds naive UTC)."""
    if since:
        query = query.where(column >= day_start_utc(since))
    if until:
        query = query.where(column < day_start_utc(until + timedelta(days=1)))
    return query
