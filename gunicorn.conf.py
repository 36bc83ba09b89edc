"""gunicorn settings for production: ``gunicorn -c gunicorn.conf.py wsgi:app``."""

import os

# Delivery runs in its own worker processes here (deploy/, make serve), never inside the
# web workers: each of them would otherwise start one.
os.environ["NOTIFIER_EMBEDDED"] = "0"

bind = os.environ.get("BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads let a worker serve pages while one request waits on a slow SMTP test.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# Test Connection may take SMTP_TIMEOUT (10 s by default); leave room above it.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "45"))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then (a guard against slow leaks), rarely enough not to stall load.
max_requests = 50000
max_requests_jitter = 5000
# No control socket: it would be created under the home folder of whoever runs this.
control_socket_disable = True
accesslog = "-"
# %(U)s is the path without its query string: setup tokens and filters stay out of logs.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms "%(a)s"'
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
