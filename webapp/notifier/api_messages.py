"""Messages of the notification API's validation errors, by pydantic error type or our name."""

ERRORS = {
    # pydantic's error types
    "missing": "This field is required.",
    "extra_forbidden": "Unknown field.",
    "string_type": "Must be a string.",
    "bool_type": "Must be true or false.",
    "list_type": "Must be a list.",
    "dict_type": "Must be a JSON object.",
    "model_type": "Must be a JSON object.",
    "model_attributes_type": "Must be a JSON object.",
    "string_too_long": "At most {max_length} characters.",
    "too_long": "At most {max_length} items.",
    "literal_error": "Must be one of: {expected}.",
    # ours
    "body": "Send one JSON object with Content-Type: application/json.",
    "json": "The body is not valid JSON: {error}.",
    "too_deep": "The JSON is nested too deeply.",
    "surrogate": "Contains a character that is not valid Unicode (a lone surrogate).",
    "too_large": "The body is larger than {limit} MB.",
    "one_line": "Must not contain line breaks or control characters.",
    "encoded_word": 'Must not contain "=?".',
    "blank": "Must not be empty.",
    "address": "{address!r} is not one valid email address.",
    "nobody": "Give a topic, addresses in 'to', or both.",
    "unregistered": (
        "No topic {topic!r} is registered. Register it first with "
        'PUT /api/v1/topics/{topic} {{"title": …, "kind": …}}.'
    ),
}


def error_text(error):
    """Our message for one pydantic error (a validator's own message as it is)."""
    if error["type"] == "value_error":
        return str(error["ctx"]["error"])
    template = ERRORS.get(error["type"])
    if template is None:
        return error["msg"]
    context = {key: str(value) for key, value in (error.get("ctx") or {}).items()}
    return template.format_map(context)
