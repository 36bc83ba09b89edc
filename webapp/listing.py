"""Filtered, paginated admin lists: the page number and a date-range filter."""

from datetime import datetime, time, timedelta

from flask import request

from .extensions import db


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
