"""Benchmark: `python -m bench.inference_scaling [--frames 480] [--rounds 3]` prints JSON.

Queues the same frames (inference.sample_frames, as bench.inference) through Redis to a real
inference worker: one pool process pinned to core 0 (`taskset -c 0`, `-c 1`), then two pinned
to cores 0 and 1 (`taskset -c 0,1`, `-c 2`), taking turns for `--rounds` rounds; frames per
second of each run, and the ratio of the best two-process run to the best one-process run. From
the worker's CPU milliseconds per frame and the upload's (README, "Performance"), how many testers
at one snapshot every 2 s one web core and one inference core hold.

Not a test: figures depend on the machine. On a shared machine the wall-clock figures follow the
other processes' load (`load_average` says how busy it was); CPU ms per frame much less so (it
still rises with contention for the cores' caches).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT_INTERVAL_SECONDS = 2.0
UPLOAD_CPU_MS = (3.6, 4.9)  # one upload request, PostgreSQL and Redis included (README, "Performance")


def run_pinned(frames, *, cores: str, concurrency: int) -> dict:
    """A `celery worker -c <concurrency>` under `taskset -c <cores>`, the frames queued at once."""
    from bench.inference import _cpu_seconds, _wait, _worker_pids
    from campaigns.models import Campaign, Organisation, Variant
    from config.celery import INFERENCE_QUEUE, app
    from sessions.analysis_queue import frame_submit_for_analysis
    from sessions.models import Frame, Tester

    organisation = Organisation.objects.create(name=f"bench-{uuid.uuid4().hex[:8]}")
    log_path = Path(tempfile.gettempdir()) / f"mimik-scaling-{os.getpid()}-{concurrency}.log"
    worker = subprocess.Popen(
        ["taskset", "-c", cores, sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", INFERENCE_QUEUE,
         "-c", str(concurrency), "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING",
         "-n", f"scaling-{os.getpid()}-{concurrency}@%h"],
        cwd=ROOT, stdout=log_path.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        campaign = Campaign.objects.create(organisation=organisation, name="bench", status="running")
        variant = Variant.objects.create(campaign=campaign, label="A", kind="image", file="bench.jpg")
        tester = Tester.objects.create(campaign=campaign, token_hash=uuid.uuid4().hex)
        # Warm every pool process (models loaded, caches filled) before the clock starts.
        warm = Frame.objects.bulk_create(
            Frame(campaign=campaign, tester=tester, variant=variant, sequence=i, media_time_ms=0)
            for i in range(4 * concurrency)
        )
        for row in warm:
            frame_submit_for_analysis(frame_id=row.pk, image_bytes=frames[0].jpeg)
        _wait(lambda: not Frame.objects.filter(campaign=campaign, outcome="pending").exists(), log_path)
        first = len(warm)
        rows = Frame.objects.bulk_create(
            Frame(campaign=campaign, tester=tester, variant=variant, sequence=first + i, media_time_ms=i)
            for i in range(len(frames))
        )
        pids = _worker_pids(worker.pid)
        cpu_start = _cpu_seconds(pids)
        start = time.perf_counter()
        for row, frame in zip(rows, frames, strict=True):
            frame_submit_for_analysis(frame_id=row.pk, image_bytes=frame.jpeg)
        _wait(lambda: not Frame.objects.filter(campaign=campaign, outcome="pending").exists(), log_path)
        elapsed = time.perf_counter() - start
        worker_cpu = _cpu_seconds(pids) - cpu_start
        return {
            "cores": cores,
            "pool_processes": concurrency,
            "frames_per_second": round(len(frames) / elapsed, 1),
            "worker_cpu_ms_per_frame": round(1000 * worker_cpu / len(frames), 2),
        }
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
        organisation.delete()  # cascades to the bench campaign's frames and predictions
        app.control.purge()


def capacity(worker_cpu_ms_per_frame: float) -> dict:
    """Testers one core holds at one snapshot per SNAPSHOT_INTERVAL_SECONDS, with no headroom."""
    per_tester = 1 / SNAPSHOT_INTERVAL_SECONDS  # snapshots per second
    return {
        "snapshot_interval_seconds": SNAPSHOT_INTERVAL_SECONDS,
        "web_core_testers": [round(1000 / ms / per_tester) for ms in sorted(UPLOAD_CPU_MS, reverse=True)],
        "inference_core_testers": round(1000 / worker_cpu_ms_per_frame / per_tester),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=480)
    parser.add_argument("--rounds", type=int, default=3)
    arguments = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings

    from inference.sample_frames import benchmark_frames
    from inference.services import model_version_ensure_default

    if settings.EMBEDDED_FALLBACK:
        raise SystemExit("Needs Redis (REDIS_URL) and a real worker.")
    if (os.cpu_count() or 1) < 2:
        raise SystemExit("Needs two cores to pin two worker processes apart.")
    model_version_ensure_default()
    frames = benchmark_frames(arguments.frames)
    figures: dict = {"cpu_count": os.cpu_count(), "load_average": [round(load, 2) for load in os.getloadavg()]}
    # The two set-ups take turns, and the best run of each counts (the least disturbed by other
    # processes): a change of load on a shared machine touches both alike.
    runs = []
    for _round in range(arguments.rounds):
        runs.append(run_pinned(frames, cores="0", concurrency=1))
        runs.append(run_pinned(frames, cores="0,1", concurrency=2))
    one = max((run for run in runs if run["pool_processes"] == 1), key=lambda run: run["frames_per_second"])
    two = max((run for run in runs if run["pool_processes"] == 2), key=lambda run: run["frames_per_second"])
    figures["runs"] = runs
    figures["best"] = [one, two]
    figures["scaling_ratio"] = round(two["frames_per_second"] / one["frames_per_second"], 2)
    figures["capacity"] = capacity(one["worker_cpu_ms_per_frame"])
    figures["load_average_after"] = [round(load, 2) for load in os.getloadavg()]
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
