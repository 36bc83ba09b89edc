"""The Email Service of the BI platform: ``create_app`` wires every feature together."""

import logging
import os

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from . import audit, auth, database, email_service, health, i18n, notifier, pages
from . import config as configuration
from .extensions import bootstrap, csrf, limiter, login_manager

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def create_app(config=None):
    """Build the app; ``config`` (a mapping) wins over the environment (see ``config.SETTINGS``)."""
    overrides = dict(config or {})
    instance_path = overrides.pop("INSTANCE_PATH", None) or os.environ.get("INSTANCE_PATH")
    app = Flask(
        __name__,
        instance_path=instance_path or os.path.join(PROJECT_ROOT, "instance"),
        template_folder="../templates",
        static_folder="../static",
    )
    os.makedirs(app.instance_path, exist_ok=True)  # the SQLite file lives here
    app.config.update(configuration.load(app.instance_path, overrides))
    register_extensions(app)
    register_features(app)
    pages.register(app)
    health.register(app)
    return app


def register_extensions(app):
    """Bind the extension objects and the database rules."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if app.config["TRUSTED_PROXIES"]:
        n = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)
    database.register_database(app)
    login_manager.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    bootstrap.init_app(app)
    i18n.register(app)  # Flask-Babel: languages, time zones


def register_features(app):
    """One ``register`` call per feature package, in dependency order."""
    auth.register(app)
    audit.register(app)
    email_service.register(app)
    notifier.register(app)
