"""Upload cost against a bare 204, side by side: `python -m bench.upload` prints JSON.

1. In process: Django's test client posts a 50 KB face JPEG to the upload API (rotating testers,
   a new sequence each time), as the tester page sends it (the JPEG as the body, the fields in
   X-Snapshot-* headers) and as a multipart form, and GETs `/api/ping` (204, nothing behind it;
   a route of bench.urls only, never of the product), in alternating rounds so a busy machine
   hurts all alike. Prints the median ms per request and ping_ms / upload_ms (the share of ping's
   requests/s the upload reaches), plus the SQL queries of one upload.
2. Served (if `wrk` is on the PATH): gunicorn with --workers N processes of --threads T threads,
   as production serves HTTP (deploy/entrypoint.sh; --threads 1 is gunicorn's plain sync worker),
   `wrk` against `/api/ping` and the upload route exactly as `python -m tests.load` does (raw
   body; `--wrk-multipart` adds the form), the ratio of their requests/s, and the CPU
   milliseconds per request of each part (gunicorn's processes, our redis-server, the PostgreSQL
   backends of the bench database, wrk): a ratio of requests/s depends on what else runs on the
   machine, CPU per request much less.

It uses a throwaway database (`mimik_bench`, dropped at the end) on DATABASE_ADMIN_URL and a
redis-server of its own (needs `redis-server` on the PATH), like the load script.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.ping import PING_PATH
from tests.load.__main__ import (
    Stack,
    admin_sql,
    create_testers,
    fifty_kb_jpeg,
    free_port,
    prepare_environment,
    run_wrk,
)
from tests.load.servers import WEB_THREADS

ROOT = Path(__file__).resolve().parents[1]
BENCH_DB = "mimik_bench"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.upload", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="in-process requests per kind and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--testers", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=WEB_THREADS, help="threads per gunicorn process (1: sync)")
    parser.add_argument("--wrk-seconds", type=int, default=10, help="0 skips the served part")
    parser.add_argument("--wrk-connections", type=int, default=32)
    parser.add_argument("--wrk-rounds", type=int, default=2)
    parser.add_argument("--wrk-multipart", action="store_true", help="also wrk the multipart form upload")
    parser.add_argument("--database", default=BENCH_DB, help="the throwaway database's name")
    parser.add_argument("--profile", action="store_true", help="cProfile the in-process uploads (to stderr)")
    parser.add_argument("--profile-sort", default="cumulative", help="pstats sort key, e.g. tottime")
    return parser.parse_args(argv)


def in_process(args, tokens: list[str], variant: str, jpeg: bytes, broker) -> dict:
    from django.db import connection
    from django.test import Client

    from config.celery import INFERENCE_QUEUE

    client = Client()
    sequence = iter(range(10**9))

    boundary = "----mimikbench"

    def upload_multipart() -> int:
        # The body is built by hand as wrk's script does (the test client's encoder would be timed too).
        number = next(sequence)
        fields = {"variant": variant, "sequence": number, "media_time_ms": number % 600000}
        head = "".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            for name, value in fields.items()
        )
        head += f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="s.jpg"\r\n'
        head += "Content-Type: image/jpeg\r\n\r\n"
        body = head.encode() + jpeg + f"\r\n--{boundary}--\r\n".encode()
        return client.post(
            "/api/t/frames/",
            body,
            content_type=f"multipart/form-data; boundary={boundary}",
            HTTP_X_TESTER_TOKEN=tokens[number % len(tokens)],
        ).status_code

    def upload() -> int:
        number = next(sequence)
        return client.post(
            "/api/t/frames/",
            jpeg,
            content_type="image/jpeg",
            HTTP_X_TESTER_TOKEN=tokens[number % len(tokens)],
            HTTP_X_SNAPSHOT_VARIANT=variant,
            HTTP_X_SNAPSHOT_SEQUENCE=str(number),
            HTTP_X_SNAPSHOT_MEDIA_TIME_MS=str(number % 600000),
        ).status_code

    def ping() -> int:
        return client.get(PING_PATH).status_code

    def timed(call, wall: list[float], cpu: list[float]) -> None:
        """Wall time, and this process's CPU time (less disturbed by a busy machine; the waits for
        PostgreSQL and Redis are not in it)."""
        started, started_cpu = time.perf_counter(), time.process_time()
        statuses = {call() for _ in range(args.requests)}
        wall.append((time.perf_counter() - started) * 1000 / args.requests)
        cpu.append((time.process_time() - started_cpu) * 1000 / args.requests)
        if statuses != {204}:
            raise RuntimeError(f"{call.__name__} answered {statuses}")

    for _ in range(20):  # warm up: imports, connections, caches
        upload(), upload_multipart(), ping()
    queries: list[str] = []

    def record(execute, sql, params, many, context):
        queries.append(sql[:120])
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):  # (request_started empties connection.queries)
        upload()
    if args.profile:
        import cProfile
        import pstats

        # CPU time, not wall time: on a shared machine the waits for PostgreSQL and Redis would
        # drown what this process itself spends.
        profiler = cProfile.Profile(time.process_time)
        profiler.runcall(lambda: [upload() for _ in range(args.requests)])
        pstats.Stats(profiler, stream=sys.stderr).sort_stats(args.profile_sort).print_stats(60)
    ping_ms, upload_ms, ping_cpu_ms, upload_cpu_ms, multipart_ms, multipart_cpu_ms = [], [], [], [], [], []
    for _ in range(args.rounds):
        timed(ping, ping_ms, ping_cpu_ms)
        timed(upload, upload_ms, upload_cpu_ms)
        timed(upload_multipart, multipart_ms, multipart_cpu_ms)
        broker.delete(INFERENCE_QUEUE)  # no worker here: keep the queue from growing

    def median(values: list[float]) -> float:
        return round(statistics.median(values), 3)

    return {
        "ping_ms": median(ping_ms),
        "upload_ms": median(upload_ms),
        "upload_over_ping": round(median(ping_ms) / median(upload_ms), 3),
        "ping_cpu_ms": median(ping_cpu_ms),
        "upload_cpu_ms": median(upload_cpu_ms),
        "upload_over_ping_cpu": round(median(ping_cpu_ms) / median(upload_cpu_ms), 3),
        "multipart_upload_ms": median(multipart_ms),
        "multipart_upload_cpu_ms": median(multipart_cpu_ms),
        "rounds_ms": {
            "ping": [round(v, 3) for v in ping_ms],
            "upload": [round(v, 3) for v in upload_ms],
            "multipart_upload": [round(v, 3) for v in multipart_ms],
        },
        "sql_per_upload": queries,
    }


def _cpu_ms(pids: list[int]) -> float:
    """User + system CPU milliseconds of these processes so far (0 for those that are gone)."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks * 1000 / os.sysconf("SC_CLK_TCK")


def _process_group(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == pgid:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def _backends(admin_url: str, database: str) -> list[int]:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as connection:
        return [row[0] for row in connection.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [database])]


def wrk_with_cpu(stack: Stack, admin_url: str, database: str, *wrk_args) -> dict:
    """run_wrk, plus the CPU ms per request of each part of the stack while it ran."""
    web = _process_group(stack.processes["web"].pid)
    redis_server = _process_group(stack.processes["redis"].pid)
    backends = _backends(admin_url, database)
    before = {"web": _cpu_ms(web), "redis": _cpu_ms(redis_server), "postgres": _cpu_ms(backends)}
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = run_wrk(*wrk_args)
    after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    backends = sorted(set(backends) | set(_backends(admin_url, database)))  # new ones count whole
    after = {"web": _cpu_ms(web), "redis": _cpu_ms(redis_server), "postgres": _cpu_ms(backends)}
    requests = result["requests"] or 1
    cpu = {part: round((after[part] - before[part]) / requests, 3) for part in before}
    wrk_cpu = after_children.ru_utime + after_children.ru_stime - children.ru_utime - children.ru_stime
    cpu["wrk"] = round(wrk_cpu * 1000 / requests, 3)
    cpu["total"] = round(sum(cpu.values()), 3)
    return {**result, "cpu_ms_per_request": cpu}


def served(args, stack: Stack, tokens: list[str], variant: str, jpeg_path: Path, broker, admin_url: str) -> dict:
    from config.celery import INFERENCE_QUEUE

    stack.start_web(args.workers, args.threads)
    base_url = f"http://127.0.0.1:{stack.web_port}"
    rounds = []
    modes = ["raw", "multipart"] if args.wrk_multipart else ["raw"]
    for _ in range(args.wrk_rounds):
        load_before = os.getloadavg()[0]
        ping = wrk_with_cpu(
            stack, admin_url, args.database, f"{base_url}{PING_PATH}", args.wrk_seconds, args.wrk_connections
        )
        measured = {"load_average_1min": round(load_before, 2), "ping": ping}
        for mode in modes:
            script = [mode, str(jpeg_path), variant, *tokens]
            upload = wrk_with_cpu(
                stack, admin_url, args.database, base_url, args.wrk_seconds, args.wrk_connections, script
            )
            broker.delete(INFERENCE_QUEUE)
            name = "upload" if mode == "raw" else "multipart_upload"
            measured[name] = upload
            if ping["requests_per_s"]:
                measured[f"{name}_over_ping"] = round(upload["requests_per_s"] / ping["requests_per_s"], 3)
                measured[f"{name}_over_ping_cpu"] = round(
                    ping["cpu_ms_per_request"]["total"] / upload["cpu_ms_per_request"]["total"], 3
                )
        rounds.append(measured)
    return {
        "workers": args.workers,
        "threads": args.threads,
        "connections": args.wrk_connections,
        "upload_over_ping": statistics.median(r["upload_over_ping"] for r in rounds if "upload_over_ping" in r),
        "upload_over_ping_cpu": statistics.median(
            r["upload_over_ping_cpu"] for r in rounds if "upload_over_ping_cpu" in r
        ),
        "rounds": rounds,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("redis-server") is None:
        sys.exit("redis-server is not installed (apt-get install -y redis-server).")
    workdir = Path(tempfile.mkdtemp(prefix="mimik-bench-"))
    stack = Stack(workdir, {}, free_port(), free_port())
    env = prepare_environment(args, workdir, stack.redis_port)
    admin_url = env["DATABASE_ADMIN_URL"]
    env["ALLOWED_HOSTS"] += ",testserver"
    # Every request must be a real 204: a 429 is cheaper and would flatter the upload's figure.
    env["MIMIK_FRAME_RATE_LIMIT_PER_MINUTE"] = "1000000"
    stack.env = env
    os.environ.update(env)
    admin_sql(admin_url, f"DROP DATABASE IF EXISTS {args.database} WITH (FORCE)")
    admin_sql(admin_url, f"CREATE DATABASE {args.database}")
    result: dict = {"setup": vars(args) | {"cpus": os.cpu_count(), "load_average": os.getloadavg()}}
    try:
        stack.start_redis()
        subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
        import django

        django.setup()
        import redis

        broker = redis.Redis.from_url(env["REDIS_URL"])
        _campaign, testers = create_testers(args.testers, interval=0.5, display_seconds=10, name="bench testers")
        variant = testers[0].variants[0]
        tokens = [tester.token for tester in testers if tester.variants[0] == variant]
        jpeg_path = workdir / "face-50kb.jpg"
        result["jpeg_bytes"] = fifty_kb_jpeg(jpeg_path)
        result["in_process"] = in_process(args, tokens, variant, jpeg_path.read_bytes(), broker)
        print(json.dumps(result["in_process"]), flush=True)
        if args.wrk_seconds and shutil.which("wrk"):
            from django.db import connections

            connections.close_all()
            result["served"] = served(args, stack, tokens, variant, jpeg_path, broker, admin_url)
        result["load_average_after"] = os.getloadavg()
    finally:
        stack.stop_all()
        from django.db import connections

        connections.close_all()
        admin_sql(admin_url, f"DROP DATABASE IF EXISTS {args.database} WITH (FORCE)")
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
