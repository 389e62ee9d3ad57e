"""Real server processes for the fault and privacy tests, the load script and the upload benchmark:
a throwaway redis-server of their own (never the shared one), gunicorn serving HTTP as production
does (config.wsgi) and uvicorn serving the ASGI app (websockets, and HTTP as `make run` does)."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent() -> None:
    """preexec_fn for a test's server process: the kernel ends it when the test run ends, even a run
    that was killed before its fixtures could stop it (a stray server would slow every later run)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, log_path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[:3]} exited early:\n{log_path.read_text(errors='replace')[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}:\n{log_path.read_text(errors='replace')[-3000:]}")


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def stack_environment(*, database: str, redis_port: int, workdir: Path, purpose: str, **extra: str) -> dict[str, str]:
    """The environment of a throwaway production-like stack (uvicorn, Celery, the script itself):
    DEBUG off, its own PostgreSQL database and Redis, media under workdir, plain-HTTP cookies on
    localhost. `extra` adds or overrides variables."""
    admin_url = os.environ.get("DATABASE_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "0",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or f"{purpose}-only-" + os.urandom(16).hex(),
        "DATABASE_URL": admin_url.rsplit("/", 1)[0] + f"/{database}",
        "DATABASE_ADMIN_URL": admin_url,
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "MEDIA_ROOT": str(workdir / "media"),
        "PYTHONUNBUFFERED": "1",
        "LOG_LEVEL": "WARNING",
        **extra,
    }
    env.pop("DATABASE_TEST_NAME", None)  # the stack's processes use DATABASE_URL's database itself
    return env


def redis_server_command(port: int, directory: Path) -> list[str]:
    """A redis-server that keeps every acknowledged message across its own restart (fsync'd AOF)."""
    return [
        "redis-server",
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--dir",
        str(directory),
    ]


class OwnRedis:
    """A redis-server on a free port with an fsync'd append-only file, as the broker must be in
    production: killed and started again, it still holds every message it acknowledged."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        log_path = self.directory / "redis.log"
        self.process = subprocess.Popen(
            redis_server_command(self.port, self.directory),
            stdout=log_path.open("a"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        wait_for_port(self.port, self.process, log_path, timeout=20)

    def kill(self) -> None:
        if self.process is not None:
            stop(self.process, signal.SIGKILL)


@contextmanager
def own_redis(directory: Path) -> Iterator[OwnRedis]:
    redis_server = OwnRedis(directory)
    redis_server.start()
    try:
        yield redis_server
    finally:
        redis_server.kill()


# Threads per gunicorn process in production (deploy/entrypoint.sh, WEB_THREADS).
WEB_THREADS = 8


def gunicorn_command(port: int, *, workers: int = 1, threads: int = 1, host: str = "127.0.0.1") -> list[str]:
    """Production's HTTP server (deploy/entrypoint.sh `web`): gunicorn on config.wsgi, `workers`
    processes of `threads` threads each (one thread: gunicorn's plain sync worker)."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "config.wsgi:application",
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--log-level",
        "warning",
    ]


def uvicorn_command(port: int, *, workers: int = 1, host: str = "127.0.0.1") -> list[str]:
    """The ASGI app (config.asgi): websockets in production, everything under `make run`."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "config.asgi:application",
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
    ]


@contextmanager
def served(command: list[str], port: int, env: dict[str, str], log_path: Path) -> Iterator[str]:
    """`command` listening on `port` with `env` (see conftest.child_environment); yields its URL."""
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=log_path.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )
    try:
        wait_for_port(port, process, log_path)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)


@contextmanager
def gunicorn_server(env: dict[str, str], log_path: Path, *, workers: int = 1, threads: int = 1) -> Iterator[str]:
    """The production WSGI app in gunicorn on a free port."""
    port = free_port()
    with served(gunicorn_command(port, workers=workers, threads=threads), port, env, log_path) as url:
        yield url


@contextmanager
def uvicorn_server(env: dict[str, str], log_path: Path) -> Iterator[str]:
    """The production ASGI app in uvicorn on a free port."""
    port = free_port()
    with served(uvicorn_command(port), port, env, log_path) as url:
        yield url
