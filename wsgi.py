"""WSGI entry point: ``flask --app wsgi …`` and ``gunicorn wsgi:app``."""

from webapp import create_app
from webapp.auth.first_run import print_setup_link

app = create_app()
print_setup_link(app)
