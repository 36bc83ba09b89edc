#!/usr/bin/env bash
# Run the app under gunicorn and one delivery worker; SIGTERM stops both gracefully.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}

"$BIN/flask" --app wsgi init-db
"$BIN/gunicorn" -c gunicorn.conf.py wsgi:app &
web=$!
"$BIN/flask" --app wsgi notifier run &
worker=$!

stop() {
  kill -TERM "$web" "$worker" 2>/dev/null || true
}
trap stop TERM INT
# Whichever process ends first (or a signal) stops the other, then both are awaited.
wait -n "$web" "$worker" || true
stop
wait "$web" "$worker" 2>/dev/null || true
