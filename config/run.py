"""`make run`: one uvicorn process serving pages, the API and the dashboard's websockets (config.asgi)
and, when Redis is there, a Celery worker (with beat). Ctrl-C stops all. Production serves HTTP on
gunicorn and only the websockets on uvicorn (deploy/entrypoint.sh)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import django


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.conf import settings

    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "8000")
    children: list[subprocess.Popen] = []
    if not settings.EMBEDDED_FALLBACK:
        children.append(
            subprocess.Popen(
                [
                    # Web first when the cores are short: a tester's upload must not wait behind
                    # the analysis, which catches up from its queue (README "Performance").
                    *(["nice", "-n", "10"] if shutil.which("nice") else []),
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "worker",
                    "-B",
                    "-Q",
                    "default,inference,second_opinion",
                    "-c",
                    os.environ.get("WORKER_CONCURRENCY", "2"),
                    "-l",
                    "INFO",
                ]
            )
        )
    children.append(
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "config.asgi:application",
                "--host",
                host,
                "--port",
                port,
                "--log-level",
                "info",
            ]
        )
    )
    print(f"\nMimik is running at http://{host}:{port}/  (Ctrl-C stops it)\n", flush=True)
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
