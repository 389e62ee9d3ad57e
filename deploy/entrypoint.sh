#!/bin/sh
# One image, one role per container (or per process on a host without containers):
#
#   web | websocket | worker-inference | worker-default | beat | worker-second-opinion | migrate
#   manage ARGS...   python manage.py ARGS (createsuperuser, register_model, ...)
#   health           exit 0 when GET /healthz on this host's web port (HOST, PORT) answers 200
#   anything else    run as a command (bash, python ...)
#
# Every setting comes from the environment (config/settings.py; deploy/mimik.env.example).
# Arguments after the role are appended to its command (e.g. `worker-inference -n gpu1@%h`).
set -eu

cd "$(dirname "$0")/.."
role="${1:-web}"
if [ "$#" -gt 0 ]; then shift; fi

# HTTP: gunicorn on the WSGI app. Each process runs WEB_THREADS threads, so a slow client (a
# tester's video on a weak line) holds one thread, not the process. The proxy hands each
# connection's client address over in a PROXY protocol header (deploy/Caddyfile), believed only from
# FORWARDED_ALLOW_IPS (gunicorn believes X-Forwarded-Proto from there too): rate limits then see
# each tester's address instead of the proxy's. Requests without one (`health`) are served as well.
serve_http() {
    exec python -m gunicorn config.wsgi:application --bind "${HOST:-0.0.0.0}:${PORT:-8000}" \
        --workers "${WEB_CONCURRENCY:-2}" --threads "${WEB_THREADS:-8}" --graceful-timeout 20 \
        --proxy-protocol auto --proxy-allow-from "${FORWARDED_ALLOW_IPS:-127.0.0.1}" \
        --worker-tmp-dir /dev/shm "$@"
}

# Websockets (/ws/): uvicorn on the ASGI app, which trusts X-Forwarded-For/-Proto only from
# FORWARDED_ALLOW_IPS (its own variable too; default 127.0.0.1).
serve_websockets() {
    exec python -m uvicorn config.asgi:application --host "${HOST:-0.0.0.0}" --port "${PORT:-8001}" \
        --workers "${WEBSOCKET_CONCURRENCY:-1}" --no-access-log --timeout-graceful-shutdown 5 "$@"
}

# A Celery worker on the given queues. Inference workers consume `inference` alone: a worker on one
# queue takes each message atomically into its own in-flight list (config/celery.py).
work() {
    queue="$1"
    shift
    exec python -m celery -A config worker -Q "$queue" -n "$queue@%h" \
        -c "${WORKER_CONCURRENCY:-2}" --without-gossip --without-mingle -l "${CELERY_LOG_LEVEL:-INFO}" "$@"
}

case "$role" in
    web) serve_http "$@" ;;
    # The proxy sends /ws/ here: long-lived dashboard sockets never share a process with the uploads.
    websocket) serve_websockets "$@" ;;
    worker-inference) work inference "$@" ;;
    worker-default) work default "$@" ;;
    worker-second-opinion) work second_opinion "$@" ;;
    beat)
        # Exactly one beat per deployment: it only schedules housekeeping onto the default queue.
        exec python -m celery -A config beat -l "${CELERY_LOG_LEVEL:-INFO}" \
            --schedule "${CELERY_BEAT_SCHEDULE_FILE:-/tmp/celerybeat-schedule}" "$@"
        ;;
    migrate) exec python manage.py migrate --noinput "$@" ;;
    manage) exec python manage.py "$@" ;;
    health)
        # /healthz as the proxy would ask for it: a host Django accepts, and HTTPS as forwarded
        # (with SECURE_SSL_REDIRECT a plain request would only be redirected).
        exec python - "${HOST:-0.0.0.0}" "${PORT:-8000}" <<'PY'
import os
import sys
import urllib.request

bind, port = sys.argv[1:3]
address = "127.0.0.1" if bind in ("", "0.0.0.0", "::") else bind
host = os.environ.get("ALLOWED_HOSTS", "").split(",")[0].strip().lstrip(".")
host = "localhost" if host in ("", "*") else host
request = urllib.request.Request(
    f"http://{address}:{port}/healthz", headers={"Host": host, "X-Forwarded-Proto": "https"}
)
try:
    with urllib.request.urlopen(request, timeout=5) as response:
        sys.exit(0 if response.status == 200 else 1)
except Exception as error:  # noqa: BLE001 - any failure is "unhealthy"
    print(error, file=sys.stderr)
    sys.exit(1)
PY
        ;;
    *) exec "$role" "$@" ;;
esac
