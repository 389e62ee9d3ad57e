"""Fixtures shared by every app's tests: real processes against the real test database and Redis.

- `celery_worker`: a real `celery worker` process on the test database (tests that use it need
  `@pytest.mark.django_db(transaction=True)` so the worker sees committed rows).
- `asgi_server`: the real ASGI app (HTTP + websockets) served by uvicorn on a free port.
- `browser`: headless Debian Chromium through Playwright; `fake_camera_browser(y4m)` plays a file
  into getUserMedia.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.db import connection, connections

from tests.load.servers import die_with_parent, stop, uvicorn_server

ROOT = Path(__file__).resolve().parent
# Playwright's sync API keeps an event loop running in the test thread; Django's database
# fixtures are plain sync code, so allow them there (pytest-django's documented advice).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def test_database_url() -> str:
    """The URL of the database the tests run on (pytest-django's test database)."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"


def child_environment(**overrides: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    env.update(
        {
            "DATABASE_URL": test_database_url(),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "PYTHONUNBUFFERED": "1",
            "SESSION_COOKIE_SECURE": "0",
            "CSRF_COOKIE_SECURE": "0",
        }
    )
    env.update(overrides)
    return env


@dataclass
class WorkerProcess:
    process: subprocess.Popen
    log_path: Path
    mail_dir: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_celery_worker(
    tmp_dir: Path, *, queues: str = "default,inference,second_opinion", concurrency: int = 1, **env: str
) -> WorkerProcess:
    """Start a real worker and wait until it is ready to consume."""
    mail_dir = tmp_dir / "mail"
    mail_dir.mkdir(parents=True, exist_ok=True)
    log_path = tmp_dir / f"worker-{time.monotonic_ns()}.log"
    log_file = log_path.open("w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            queues,
            "-c",
            str(concurrency),
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "INFO",
            "-n",
            f"test-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=child_environment(
            EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
            EMAIL_FILE_PATH=str(mail_dir),
            **env,
        ),
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Celery worker exited early:\n{log_path.read_text()}")
        if " ready." in log_path.read_text(errors="replace"):
            return WorkerProcess(process, log_path, mail_dir)
        time.sleep(0.2)
    stop(process)
    raise RuntimeError(f"Celery worker did not become ready:\n{log_path.read_text()}")


@pytest.fixture
def celery_worker(transactional_db, tmp_path: Path) -> Iterator[WorkerProcess]:
    """A real Celery worker process consuming every queue of the test's Redis database."""
    from config.celery import app

    app.control.purge()
    worker = start_celery_worker(tmp_path)
    yield worker
    stop(worker.process)


@dataclass
class AsgiServer:
    url: str
    log_path: Path


@pytest.fixture
def asgi_server(transactional_db, tmp_path: Path) -> Iterator[AsgiServer]:
    """The production ASGI app in uvicorn, on the test database."""
    log_path = tmp_path / "uvicorn.log"
    with uvicorn_server(child_environment(), log_path) as url:
        yield AsgiServer(url, log_path)


@pytest.fixture
def playwright_instance():
    # Per test, not per session: while Playwright's sync API is open it keeps an asyncio loop
    # running in the main thread, and every later test that calls async_to_sync there would fail.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright
        # Django's connections are context-local, and while Playwright is open the test runs in a
        # context of its own: a connection opened there (a test that writes a frame) is out of reach
        # of the test database's teardown, which then cannot drop the database. Close it here.
        connections.close_all()


@pytest.fixture
def fake_camera_browser(playwright_instance) -> Iterator[Callable]:
    """Factory: launch(y4m_path=None, camera="allow"|"deny") -> Browser with a fake camera."""
    browsers = []

    def launch(y4m_path: Path | None = None, camera: str = "allow"):
        args = list(CHROMIUM_ARGS)
        if camera == "allow":
            args += ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
            if y4m_path is not None:
                args.append(f"--use-file-for-fake-video-capture={y4m_path}")
        else:
            args += ["--use-fake-device-for-media-stream", "--deny-permission-prompts"]
        browser = playwright_instance.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        browsers.append(browser)
        return browser

    yield launch
    for browser in browsers:
        browser.close()


@pytest.fixture
def browser(fake_camera_browser):
    return fake_camera_browser(None)
