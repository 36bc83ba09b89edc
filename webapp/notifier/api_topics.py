"""The topic catalogue's API: the platform registers what it sends mail about."""

from flask import g, jsonify, request

from ..extensions import db
from .api import bp, field_errors, read_body
from .api_messages import ERRORS
from .api_schema import TopicIn, parse
from .topics import all_topics, kind_problem, save_topic, topic_name_problem


def topic_json(topic):
    """A topic as the API shows it."""
    return {
        "name": topic.name,
        "title": topic.title,
        "url": topic.url,
        "kind": topic.kind,
        "audience": {"roles": sorted(topic.roles), "users": sorted(topic.users)},
    }


@bp.route("/topics", methods=["GET"])
def list_topics():
    """Every registered topic with its audience."""
    return jsonify({"topics": [topic_json(topic) for topic in all_topics()]})


@bp.route("/topics/<path:name>", methods=["PUT"])
def put_topic(name):
    """Register a topic (201) or update it (200); 400 naming bad fields."""
    problem = topic_name_problem(name)
    if problem:
        return field_errors({"name": problem})
    if not request.is_json:
        return field_errors({"body": ERRORS["body"]})
    errors, body = parse(TopicIn, read_body())
    if not errors and kind_problem(name, body.kind):
        errors = {"kind": kind_problem(name, body.kind)}
    if errors:
        return field_errors(errors)
    topic, created = save_topic(
        name,
        title=body.title,
        url=body.url,
        kind=body.kind,
        roles=body.audience.roles,
        users=body.audience.users,
        actor=f"token:{g.api_token.name}",
    )
    db.session.commit()
    return jsonify(topic_json(topic)), 201 if created else 200
