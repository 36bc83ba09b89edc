"""The delivery worker inside the web process, for ``make run`` (``NOTIFIER_EMBEDDED=1``).

One command then gives the whole product; production runs separate worker processes,
and gunicorn never embeds one (its config turns this off).
"""

import atexit
import threading

from .worker import Worker


def start_embedded_worker(app):
    """Run a delivery worker in a daemon thread of this process; returns the worker."""
    worker = Worker(app)
    thread = threading.Thread(target=worker.run, daemon=True, name="notifier-embedded")
    thread.start()

    def stop():
        # Finish the messages in hand and give back the rest, as on SIGTERM.
        worker.stop()
        thread.join(timeout=app.config["SMTP_TIMEOUT"] + 5)

    app.extensions["notifier_embedded"] = (worker, stop)
    atexit.register(stop)
    return worker
