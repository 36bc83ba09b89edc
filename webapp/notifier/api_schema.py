"""The notification API's bodies as pydantic models; every error names its field."""

import json
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictStr, ValidationError

from ..auth.models import ROLES
from ..validators import has_control_characters, normalized_address
from .api_messages import ERRORS, error_text
from .attachments import MAX_FILES, Upload, upload_errors
from .models import KINDS, TOPIC_KINDS
from .topics import topic_name_problem, web_address_problem

MAX_RECIPIENTS = 1000
MAX_AUDIENCE_USERS = 1000


def _one_line(value):
    if has_control_characters(value):
        raise ValueError(ERRORS["one_line"])
    return value


def _no_encoded_words(value):
    if "=?" in value:
        raise ValueError(ERRORS["encoded_word"])
    return value


def _not_blank(value):
    if not value.strip():
        raise ValueError(ERRORS["blank"])
    return value


def _addresses(values):
    clean = []
    for address in values:
        try:
            clean.append(normalized_address(address))
        except ValueError:
            raise ValueError(ERRORS["address"].format(address=address[:100])) from None
    return list(dict.fromkeys(clean))


def _web_address(value):
    problem = web_address_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _topic(value):
    problem = topic_name_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _line(max_length):
    """One line of at most ``max_length`` characters (the length is checked first)."""
    return Annotated[StrictStr, Field(max_length=max_length), AfterValidator(_one_line)]


Text = Annotated[StrictStr, Field(max_length=1_000_000)]
Title = Annotated[_line(200), AfterValidator(_not_blank)]
Addresses = Annotated[list[StrictStr], Field(max_length=MAX_RECIPIENTS), AfterValidator(_addresses)]


class Strict(BaseModel):
    """Unknown fields are refused; nothing is coerced from another JSON type."""

    model_config = ConfigDict(extra="forbid", strict=True)


class NotificationIn(Strict):
    """``POST /api/v1/notifications``."""

    kind: Literal[KINDS]
    topic: Annotated[StrictStr, AfterValidator(_topic)] | None = None
    to: Addresses | None = None
    subject: Annotated[Title, AfterValidator(_no_encoded_words)]
    text: Annotated[Text, AfterValidator(_not_blank)]
    html: Text | None = None
    idempotency_key: _line(200) | None = None
    data: dict[str, Any] | None = None
    attachments: Annotated[list[Upload], Field(max_length=MAX_FILES)] = []


class Audience(Strict):
    """Who may see a topic: roles and user emails; both empty means every user."""

    roles: list[Literal[ROLES]] = []
    users: Annotated[
        list[StrictStr], Field(max_length=MAX_AUDIENCE_USERS), AfterValidator(_addresses)
    ] = []


class TopicIn(Strict):
    """``PUT /api/v1/topics/<name>``."""

    title: Title
    url: Annotated[_line(500), AfterValidator(_web_address)] | None = None
    kind: Literal[TOPIC_KINDS]
    audience: Audience = Audience()


def _field_name(location):
    """``("attachments", 0, "filename")`` → ``attachments[0].filename``; ``()`` → ``body``."""
    name = ""
    for part in location:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "body"


def _invalid_unicode(value, location=()):
    """The location of the first string holding a lone surrogate (which no database
    stores), or None."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return location
    elif isinstance(value, dict):
        for key, item in value.items():
            found = _invalid_unicode(key, location) or _invalid_unicode(item, (*location, key))
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _invalid_unicode(item, (*location, index))
            if found is not None:
                return found
    return None


def parse(model, raw):
    """``(errors, value)``: the JSON bytes ``raw`` read into ``model``, or field → message."""
    try:
        body = json.loads(raw)
    except RecursionError:
        return {"body": ERRORS["too_deep"]}, None
    except ValueError as exc:  # JSONDecodeError and bytes that are not UTF-8
        return {"body": ERRORS["json"].format(error=exc)}, None
    if not isinstance(body, dict):
        return {"body": ERRORS["body"]}, None
    try:
        location = _invalid_unicode(body)
    except RecursionError:
        return {"body": ERRORS["too_deep"]}, None
    if location is not None:
        return {_field_name(location): ERRORS["surrogate"]}, None
    try:
        return {}, model.model_validate(body)
    except ValidationError as exc:
        errors = {}
        for error in exc.errors(include_url=False):
            errors.setdefault(_field_name(error["loc"]), error_text(error))
        return errors, None


def parse_notification(raw):
    """``(errors, NotificationIn)`` with the rules across fields checked too."""
    errors, value = parse(NotificationIn, raw)
    if value is not None:
        if not value.topic and not value.to:
            errors["topic"] = ERRORS["nobody"]
        errors.update(upload_errors(value.attachments))
    return errors, None if errors else value
