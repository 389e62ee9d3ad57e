"""Load run: `python -m tests.load --testers 200 --seconds 600` prints the books as JSON.

What runs, the way production serves it: a throwaway PostgreSQL database (`mimik_load`, dropped at
the end), a Redis of its own (a redis-server on a free port with an fsync'd append-only file, so
the broker survives a restart like a production Redis must), gunicorn with several sync workers,
and Celery workers. The script creates a running campaign and its testers through the services, then
every tester uploads a real face JPEG (inference.sample_frames) at the capture interval through
the real HTTP API (the JPEG as the body, as the tester page sends it, over one keep-alive
connection per tester), re-sending on 429/5xx after Retry-After like the tester page does. When the
time is up it waits for every accepted frame's outcome and prints requests/s, upload latency
percentiles, the upload-to-outcome delay and the books (accepted, stored, lost, duplicated).
Then `wrk` measures the upload endpoint with a 50 KB JPEG against a bare 204 on the same server
(`/api/ping`, bench.ping: a route of the benchmarks' own URLconf only).

Faults, on demand: `--kill-worker-at S` SIGKILLs a Celery worker (and its pool) S seconds in and
starts a new one; `--restart-redis-at S --redis-down-seconds D` kills Redis and restarts it D
seconds later. The books must still say lost 0, duplicated 0.

Needs: PostgreSQL on DATABASE_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres),
redis-server and wrk on the PATH (`apt-get install wrk`) and scikit-image (a dev dependency).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.ping import PING_PATH
from tests.load.servers import WEB_THREADS, free_port, gunicorn_command, redis_server_command, stack_environment

ROOT = Path(__file__).resolve().parents[2]
LOAD_DB = "mimik_load"


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 1)


def wait_for(check, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not come up within {timeout:.0f} s")


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


# --- Processes ---------------------------------------------------------------------------------


@dataclass
class Stack:
    """The services of one run, all children of this script, stopped at the end."""

    workdir: Path
    env: dict[str, str]
    redis_port: int
    web_port: int
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def spawn(self, name: str, command: list[str], **env: str) -> subprocess.Popen:
        log = (self.workdir / f"{name}.log").open("a")
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**self.env, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: a kill reaches the pool children too
        )
        self.processes[name] = process
        return process

    def log(self, name: str) -> str:
        return (self.workdir / f"{name}.log").read_text(errors="replace")

    def start_redis(self) -> None:
        self.spawn("redis", redis_server_command(self.redis_port, self.workdir))
        wait_for(lambda: port_open(self.redis_port), timeout=20, what="redis-server")

    def start_worker(self, name: str, concurrency: int, niceness: int = 0, queues: str = "inference") -> None:
        # A positive niceness gives the web tier the CPU first when the cores are short: uploads
        # stay fast and the analysis backlog waits in Redis (see README "Performance").
        self.spawn(
            name,
            [
                *(["nice", "-n", str(niceness)] if niceness else []),
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                # Frames only, as production runs its inference workers: a worker on one queue
                # takes each message atomically into its own in-flight list (config.celery), so
                # a SIGKILL cannot lose the one it is receiving.
                "-Q",
                queues,
                "-c",
                str(concurrency),
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                "WARNING",
                "-n",
                f"{name}-{time.monotonic_ns()}@%h",
            ],
        )
        # Ready once the worker logs it (WARNING level hides "ready.", so ask Celery instead).
        from config.celery import app

        def ready() -> bool:
            replies = app.control.ping(timeout=0.5) or []
            return any(name in key for reply in replies for key in reply)

        wait_for(ready, timeout=120, what=f"Celery worker {name}")

    def start_web(self, workers: int, threads: int = WEB_THREADS) -> None:
        """HTTP as production serves it: gunicorn on config.wsgi (deploy/entrypoint.sh)."""
        self.spawn("web", gunicorn_command(self.web_port, workers=workers, threads=threads))
        wait_for(lambda: port_open(self.web_port), timeout=60, what="gunicorn")

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        process = self.processes.get(name)
        if process is not None and process.poll() is None:
            os.killpg(process.pid, sig)
            process.wait(timeout=30)

    def stop_all(self) -> None:
        for name in reversed(list(self.processes)):
            process = self.processes[name]
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)


def admin_sql(admin_url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(statement)


# --- The testers -------------------------------------------------------------------------------


@dataclass
class Tester:
    id: str
    token: str
    variants: list[str]


@dataclass
class Books:
    accepted: set = field(default_factory=set)  # (tester id, sequence) answered 204
    latencies_ms: list[float] = field(default_factory=list)  # every 204
    statuses: Counter = field(default_factory=Counter)
    requests: int = 0


class HttpConnection:
    """One keep-alive HTTP/1.1 connection, written and read by hand over asyncio streams: the load
    generator shares the two cores with the server, and a full client (httpx) cost several times
    the CPU per request. Enough HTTP for our API's answers (Content-Length bodies)."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def post(self, head: bytes, body: bytes) -> tuple[int, dict[str, str]]:
        """(status, lower-cased headers). A kept-alive connection the server closed meanwhile is
        opened again once and the request sent again (an upload is idempotent: same sequence)."""
        for attempt in (1, 2):
            reused = self.writer is not None
            try:
                return await asyncio.wait_for(self._exchange(head, body), self.timeout)
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                if not reused or attempt == 2:
                    raise
            except BaseException:
                self.close()
                raise
        raise AssertionError("unreachable")

    async def _exchange(self, head: bytes, body: bytes) -> tuple[int, dict[str, str]]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(head)
        self.writer.write(body)
        await self.writer.drain()
        lines = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name:
                headers[name.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
                await self.reader.readexactly(size + 2)
            await self.reader.readuntil(b"\r\n")
        elif length := int(headers.get("content-length", "0")):
            await self.reader.readexactly(length)
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers


def upload_head(token: str, variant: str, sequence: int, media_time_ms: int, size: int) -> bytes:
    """The tester page's request: the JPEG as the body, the fields in X-Snapshot-* headers."""
    return (
        f"POST /api/t/{token}/frames/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: image/jpeg\r\n"
        f"Content-Length: {size}\r\nX-Snapshot-Variant: {variant}\r\nX-Snapshot-Sequence: {sequence}\r\n"
        f"X-Snapshot-Media-Time-Ms: {media_time_ms}\r\n\r\n"
    ).encode("ascii")


async def run_tester(
    connection: HttpConnection, tester: Tester, jpegs: list[bytes], args, deadline: float, books: Books
) -> None:
    """One tester's page (static/js/tester_watch.js): a snapshot every interval into a queue, sent
    oldest first; 429, 5xx and network errors wait (Retry-After or a second) and re-send, any other
    refusal is final."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(random.uniform(0, args.interval))
    next_at, sequence, queue = loop.time(), 0, []
    per_variant = max(1, int(args.display_seconds / args.interval))
    flush_deadline = deadline + 120
    try:
        while True:
            now = loop.time()
            if now < deadline:
                queue.append(sequence)
                sequence += 1
            elif not queue or now > flush_deadline:
                return
            retry_in = None
            while queue:
                number = queue[0]
                variant = tester.variants[(number // per_variant) % len(tester.variants)]
                jpeg = jpegs[(number + hash(tester.id)) % len(jpegs)]
                head = upload_head(tester.token, variant, number, (number % per_variant) * 1000, len(jpeg))
                started = time.perf_counter()
                try:
                    status, headers = await connection.post(head, jpeg)
                    retry_after = headers.get("retry-after")
                except Exception as error:  # timeouts, resets: the page retries these too
                    status, retry_after = type(error).__name__, None
                books.requests += 1
                books.statuses[str(status)] += 1
                if status == 204:
                    books.latencies_ms.append((time.perf_counter() - started) * 1000)
                    books.accepted.add((tester.id, number))
                    queue.pop(0)
                elif status == 429 or not isinstance(status, int) or status >= 500:
                    retry_in = float(retry_after) if retry_after else 1.0
                    break
                else:
                    queue.pop(0)  # refused for good (400/404/409/413/415): the page drops it too
            next_at += args.interval
            await asyncio.sleep(max(0.0, retry_in or 0.0, next_at - loop.time()))
    finally:
        connection.close()


async def drive(testers: list[Tester], jpegs: list[bytes], args, base_url: str, faults) -> tuple[Books, float]:
    from urllib.parse import urlsplit

    address = urlsplit(base_url)
    books = Books()
    started = time.monotonic()
    deadline = asyncio.get_running_loop().time() + args.seconds
    fault_tasks = [asyncio.create_task(fault()) for fault in faults]
    await asyncio.gather(
        *(
            run_tester(HttpConnection(address.hostname, address.port, 30), tester, jpegs, args, deadline, books)
            for tester in testers
        )
    )
    for task in fault_tasks:
        await task
    return books, time.monotonic() - started


# --- wrk ---------------------------------------------------------------------------------------


def fifty_kb_jpeg(path: Path) -> int:
    """The astronaut face frame as a JPEG of about 50 KB (the quality that comes closest)."""
    from inference.sample_frames import encode_jpeg, face_frame

    rgb = face_frame(face_px=200, center=(320, 240), brightness=1.0, blur_radius=0.0, seed=0)
    best = min((abs(len(encode_jpeg(rgb, quality=q)) - 51200), q) for q in range(50, 100))
    data = encode_jpeg(rgb, quality=best[1])
    path.write_bytes(data)
    return len(data)


def run_wrk(url: str, seconds: int, connections: int, script_args: list[str] | None = None) -> dict:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if script_args is not None:
        command += ["-s", str(Path(__file__).with_name("upload.lua")), url, "--", *script_args]
    else:
        command.append(url)
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout

    def number(pattern: str) -> float | None:
        match = re.search(pattern, output)
        return float(match.group(1)) if match else None

    def ms(label: str) -> float | None:
        match = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.MULTILINE)
        if not match:
            return None
        return round(float(match.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)], 2)

    return {
        "requests_per_s": number(r"Requests/sec:\s+([\d.]+)"),
        "p50_ms": ms("50"),
        "p99_ms": ms("99"),
        "requests": number(r"(\d+) requests in"),
        "non_2xx": number(r"Non-2xx or 3xx responses:\s+(\d+)") or 0,
        "socket_errors": re.findall(r"Socket errors:.*", output),
    }


# --- Main --------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--testers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60, help="how long the testers upload")
    parser.add_argument("--interval", type=float, default=1.0, help="capture interval in seconds")
    parser.add_argument("--display-seconds", type=float, default=10, help="seconds per variant")
    parser.add_argument("--web-workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--web-threads", type=int, default=WEB_THREADS, help="threads per gunicorn process")
    parser.add_argument("--celery-workers", type=int, default=1, help="Celery worker processes")
    parser.add_argument("--concurrency", type=int, default=2, help="pool size of each Celery worker")
    parser.add_argument(
        "--worker-nice", type=int, default=0, help="run the Celery workers at this niceness (web tier first)"
    )
    parser.add_argument("--drain-timeout", type=float, default=600, help="max wait for outcomes after uploads")
    parser.add_argument("--wrk-seconds", type=int, default=15, help="0 skips the wrk comparison")
    parser.add_argument("--wrk-connections", type=int, default=32)
    parser.add_argument("--kill-worker-at", type=float, help="SIGKILL a Celery worker this many seconds in")
    parser.add_argument("--restart-redis-at", type=float, help="kill Redis this many seconds in")
    parser.add_argument("--redis-down-seconds", type=float, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the database and the logs")
    parser.add_argument("--database", default=LOAD_DB, help="the throwaway database's name")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    return parser.parse_args(argv)


def prepare_environment(args, workdir: Path, redis_port: int) -> dict[str, str]:
    return stack_environment(
        database=args.database,
        redis_port=redis_port,
        workdir=workdir,
        purpose="load-run",
        # The product's settings plus the bare 204 the wrk comparison measures against.
        DJANGO_SETTINGS_MODULE="bench.settings",
        # A killed worker's message comes back after this long (the --kill-worker-at fault).
        CELERY_VISIBILITY_TIMEOUT="20",
    )


def create_testers(count: int, *, interval: float, display_seconds: float, name: str) -> tuple[str, list[Tester]]:
    from campaigns.models import Campaign
    from sessions.models import Tester as TesterRow
    from sessions.services import tester_camera_set, tester_consent, tester_create_for_invitation
    from tests.support.study import make_study

    study = make_study(invitations=count, capture_interval=interval, organisation_name=name)
    Campaign.objects.filter(pk=study.campaign.pk).update(image_display_seconds=int(display_seconds))
    testers = []
    for invitation, token in zip(study.campaign.invitations.order_by("created_at"), study.tokens, strict=True):
        tester = tester_consent(tester=tester_create_for_invitation(invitation=invitation))
        tester_camera_set(tester=tester, camera=TesterRow.Camera.GRANTED)
        testers.append(Tester(str(tester.pk), token, list(tester.variant_order)))
    return str(study.campaign.pk), testers


def count_books(campaign_id: str, books: Books) -> dict:
    from django.db.models import Count

    from inference.models import Prediction
    from sessions.models import Frame

    rows = list(
        Frame.objects.filter(campaign_id=campaign_id).values_list(
            "tester_id", "sequence", "outcome", "received_at", "outcome_at"
        )
    )
    stored = Counter((str(tester), sequence) for tester, sequence, *_rest in rows)
    done = {(str(tester), sequence) for tester, sequence, outcome, *_rest in rows if outcome != Frame.Outcome.PENDING}
    predicted_twice = (
        Prediction.objects.filter(campaign_id=campaign_id)
        .values("frame")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    delays = [(at - received).total_seconds() * 1000 for *_key, outcome, received, at in rows if at is not None]
    return {
        "frames_accepted": len(books.accepted),
        "frames_stored": len(rows),
        "outcomes_stored": len(done),
        "stored_without_a_204": len(set(stored) - books.accepted),
        "lost": len(books.accepted - done),
        "duplicated": sum(n - 1 for n in stored.values()) + predicted_twice,
        "outcomes": dict(Counter(outcome for _t, _s, outcome, *_rest in rows)),
        "upload_to_outcome_ms": {
            "p50": percentile(delays, 0.50),
            "p95": percentile(delays, 0.95),
            "p99": percentile(delays, 0.99),
        },
    }


def pending(campaign_id: str) -> int:
    from sessions.models import Frame

    return Frame.objects.filter(campaign_id=campaign_id, outcome=Frame.Outcome.PENDING).count()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    for tool in ("redis-server", "wrk") if args.wrk_seconds else ("redis-server",):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed (apt-get install -y {'wrk' if tool == 'wrk' else 'redis-server'}).")
    workdir = Path(tempfile.mkdtemp(prefix="mimik-load-"))
    stack = Stack(workdir, {}, free_port(), free_port())
    stack.env = prepare_environment(args, workdir, stack.redis_port)
    os.environ.update(stack.env)
    sys.path.insert(0, str(ROOT))
    admin_url = stack.env["DATABASE_ADMIN_URL"]
    admin_sql(admin_url, f"DROP DATABASE IF EXISTS {args.database} WITH (FORCE)")
    admin_sql(admin_url, f"CREATE DATABASE {args.database}")
    result: dict = {"setup": vars(args) | {"out": str(args.out) if args.out else None, "cpus": os.cpu_count()}}
    try:
        stack.start_redis()
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=stack.env, check=True
        )
        import django

        django.setup()
        from inference import sample_frames

        campaign_id, testers = create_testers(
            args.testers, interval=args.interval, display_seconds=args.display_seconds, name="Load testers"
        )
        jpegs = [frame.jpeg for frame in sample_frames.benchmark_frames(24)]
        for number in range(args.celery_workers):
            stack.start_worker(f"worker{number}", args.concurrency, args.worker_nice)
        stack.start_web(args.web_workers, args.web_threads)
        base_url = f"http://127.0.0.1:{stack.web_port}"
        print(
            f"[load] {args.testers} testers x {args.seconds:.0f} s against {base_url} (logs in {workdir})", flush=True
        )

        faults = []
        if args.kill_worker_at is not None:

            async def kill_worker() -> None:
                await asyncio.sleep(args.kill_worker_at)
                stack.kill("worker0")
                result["fault_kill_worker"] = {"killed_at_s": args.kill_worker_at}
                await asyncio.to_thread(stack.start_worker, "worker0b", args.concurrency, args.worker_nice)

            faults.append(kill_worker)
        if args.restart_redis_at is not None:

            async def restart_redis() -> None:
                await asyncio.sleep(args.restart_redis_at)
                stack.kill("redis")
                await asyncio.sleep(args.redis_down_seconds)
                await asyncio.to_thread(stack.start_redis)
                result["fault_restart_redis"] = {"at_s": args.restart_redis_at, "down_s": args.redis_down_seconds}

            faults.append(restart_redis)

        cpu_before = time.process_time()
        books, elapsed = asyncio.run(drive(testers, jpegs, args, base_url, faults))
        generator_cpu_s = time.process_time() - cpu_before
        drain_started = time.monotonic()
        while pending(campaign_id) and time.monotonic() - drain_started < args.drain_timeout:
            time.sleep(1)
        result["drain_s"] = round(time.monotonic() - drain_started, 1)
        result["upload"] = {
            "requests": books.requests,
            "requests_per_s": round(books.requests / elapsed, 1),
            "accepted_per_s": round(len(books.accepted) / elapsed, 1),
            # This script's own CPU while it uploaded: it shares the cores with the server.
            "load_generator_cpu_ms_per_request": round(generator_cpu_s * 1000 / max(1, books.requests), 3),
            "statuses": dict(books.statuses),
            "latency_ms_of_204": {
                "p50": percentile(books.latencies_ms, 0.50),
                "p95": percentile(books.latencies_ms, 0.95),
                "p99": percentile(books.latencies_ms, 0.99),
                "mean": round(statistics.fmean(books.latencies_ms), 1) if books.latencies_ms else None,
            },
        }
        result["books"] = count_books(campaign_id, books)
        print(json.dumps(result["books"]), flush=True)

        if args.wrk_seconds:
            # Workers stop first: the wrk frames are not part of the books, they only wait in Redis.
            for name in [name for name in stack.processes if name.startswith("worker")]:
                stack.kill(name, signal.SIGTERM)
            _campaign, wrk_testers = create_testers(200, interval=0.5, display_seconds=10, name="wrk testers")
            jpeg_path = workdir / "face-50kb.jpg"
            size = fifty_kb_jpeg(jpeg_path)
            variant = wrk_testers[0].variants[0]
            tokens = [tester.token for tester in wrk_testers if tester.variants[0] == variant]
            ping = run_wrk(f"{base_url}{PING_PATH}", args.wrk_seconds, args.wrk_connections)
            upload = run_wrk(
                base_url, args.wrk_seconds, args.wrk_connections, ["raw", str(jpeg_path), variant, *tokens]
            )
            ratio = round(upload["requests_per_s"] / ping["requests_per_s"], 3) if ping["requests_per_s"] else None
            result["wrk"] = {"jpeg_bytes": size, "ping": ping, "upload": upload, "upload_over_ping": ratio}
    finally:
        stack.stop_all()
        if not args.keep:
            admin_sql(admin_url, f"DROP DATABASE IF EXISTS {args.database} WITH (FORCE)")
            shutil.rmtree(workdir, ignore_errors=True)
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if args.out:
        args.out.write_text(text)
    books = result.get("books", {})
    return 0 if books.get("lost") == 0 and books.get("duplicated") == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
