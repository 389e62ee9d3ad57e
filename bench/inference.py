"""Benchmark: `python -m bench.inference [--frames 240] [--no-worker] [--no-stages] [--with-fer]` prints JSON.

Runs on a fixed set of real face frames (inference.sample_frames: the public-domain astronaut
portrait with shifts, scales 90-240 px and brightness changes, plus frames without a face) and
measures frames per second for each stage alone, the whole per-frame pipeline in one process, and
the same through a real Celery worker and Redis with the database writes; plus worker peak memory.
Not a test: figures depend on the machine. Needs scikit-image (dev dependency) for the frames.

On a shared machine wall-clock figures follow the other processes' load, so each in-process
figure is also given in CPU time of this thread (`cpu_fps`: what the code costs, whatever the
load), the worker's as CPU milliseconds per frame of all its processes, and `load_average` says
how busy the machine was.
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
from collections.abc import Callable
from pathlib import Path

from bench.database import throwaway_database

ROOT = Path(__file__).resolve().parent.parent


def _fps(runs: dict[str, tuple[int, Callable[[], object]]], *, repeat: int = 3) -> tuple[dict, dict]:
    """Frames per second of each run, wall clock and CPU time of this thread, best of `repeat`
    rounds (the least disturbed by other processes). The runs take turns within each round, so
    a change of load on a shared machine touches all of them alike and their ratios hold."""
    best = {name: float("inf") for name in runs}
    best_cpu = dict(best)
    for _count, run in runs.values():
        run()  # warm-up: caches, interpreter allocation
    for _ in range(repeat):
        for name, (_count, run) in runs.items():
            start, start_cpu = time.perf_counter(), time.thread_time()
            run()
            best[name] = min(best[name], time.perf_counter() - start)
            best_cpu[name] = min(best_cpu[name], time.thread_time() - start_cpu)
    wall = {name: round(count / best[name], 1) for name, (count, _run) in runs.items()}
    cpu = {name: round(count / max(best_cpu[name], 1e-9), 1) for name, (count, _run) in runs.items()}
    return wall, cpu


def in_process(frames, *, batch: int) -> dict:
    from inference.detection import crop_face, detect_faces
    from inference.pipeline import analyse_images, get_classifier
    from inference.quality import decode_image
    from inference.services import model_version_ensure_default

    classifier = get_classifier(model_version_ensure_default())
    jpegs = [frame.jpeg for frame in frames]
    decoded = [decode_image(jpeg) for jpeg in jpegs]
    detections = [detect_faces(image.rgb) for image in decoded]
    crops = [crop_face(image.rgb, found[0]) for image, found in zip(decoded, detections, strict=True) if found]
    face_share = len(crops) / len(frames)

    runs = {
        "decode_fps": (len(jpegs), lambda: [decode_image(jpeg) for jpeg in jpegs]),
        "detection_fps": (len(decoded), lambda: [detect_faces(image.rgb) for image in decoded]),
        "classification_batch1_fps": (len(crops), lambda: [classifier.predict_faces([crop]) for crop in crops]),
        f"classification_batch{batch}_fps": (
            len(crops),
            lambda: [classifier.predict_faces(crops[i : i + batch]) for i in range(0, len(crops), batch)],
        ),
        "pipeline_batch1_fps": (len(jpegs), lambda: [analyse_images([jpeg], classifier=classifier) for jpeg in jpegs]),
        f"pipeline_batch{batch}_fps": (
            len(jpegs),
            lambda: [analyse_images(jpegs[i : i + batch], classifier=classifier) for i in range(0, len(jpegs), batch)],
        ),
    }
    figures = {"frames": len(frames), "frames_with_face": sum(frame.has_face for frame in frames)}
    wall, cpu = _fps(runs)
    figures.update(wall)
    # The practical limit: the stages back to back with nothing in between (per frame seconds).
    for source in (figures, cpu):
        per_frame = (
            1 / source["decode_fps"] + 1 / source["detection_fps"] + face_share / source["classification_batch1_fps"]
        )
        source["sum_of_parts_fps"] = round(1 / per_frame, 1)
        source["pipeline_share_of_parts"] = round(source["pipeline_batch1_fps"] / source["sum_of_parts_fps"], 2)
    figures["cpu_fps"] = cpu
    outcomes = analyse_images(jpegs, classifier=classifier)
    figures["outcomes"] = {name: sum(a.outcome == name for a in outcomes) for name in {a.outcome for a in outcomes}}
    happy = [a.top_class == "happy" for a in outcomes if a.outcome == "prediction"]
    figures["happy_share_of_predictions"] = round(sum(happy) / max(len(happy), 1), 3)
    return figures


def fer_package(frames) -> dict:
    """The `fer` package's own detect_emotions on the same frames, for comparison (imports TF)."""
    import math

    import cv2
    import numpy as np

    np.math = math  # fer's dependencies still call np.math (removed in numpy 2)
    from fer.fer import FER

    detector = FER()
    images = [cv2.imdecode(np.frombuffer(frame.jpeg, np.uint8), cv2.IMREAD_COLOR) for frame in frames]
    # Wall clock only: TensorFlow runs on threads of its own, which this thread's CPU time misses.
    wall, _cpu = _fps({"fer": (len(images), lambda: [detector.detect_emotions(image) for image in images])}, repeat=1)
    return {"fer_detect_emotions_fps": wall["fer"]}


def _worker_pids(pid: int) -> list[int]:
    children = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children += [int(child) for child in (task / "children").read_text().split()]
    return [pid, *children]


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of these processes so far (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def _peak_rss_mib(pid: int) -> dict:
    """VmHWM (peak resident memory) of the worker's main process and its pool children."""

    def hwm(process_id: int) -> float:
        for line in Path(f"/proc/{process_id}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    children = _worker_pids(pid)[1:]
    return {
        "worker_main_peak_rss_mib": round(hwm(pid), 1),
        "worker_child_peak_rss_mib": round(max((hwm(child) for child in children), default=0.0), 1),
        "worker_processes": 1 + len(children),
    }


def through_worker(frames, *, concurrency: int) -> dict:
    """Upload-path publishing into Redis, a real `celery worker`, outcomes written to the DB."""
    from django.conf import settings

    from campaigns.models import Campaign, Organisation, Variant
    from config.celery import INFERENCE_QUEUE, app
    from inference.services import model_version_ensure_default
    from sessions.analysis_queue import frame_submit_for_analysis
    from sessions.models import Frame, Tester

    if settings.EMBEDDED_FALLBACK:
        return {"worker": "skipped: no Redis (embedded fallback)"}
    model_version_ensure_default()
    organisation = Organisation.objects.create(name=f"bench-{uuid.uuid4().hex[:8]}")
    log_path = Path(tempfile.gettempdir()) / f"mimik-bench-worker-{os.getpid()}.log"
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", INFERENCE_QUEUE, "-c", str(concurrency),
         "--without-gossip", "--without-mingle", "--without-heartbeat", "-l", "WARNING",
         "-n", f"bench-{os.getpid()}@%h"],
        cwd=ROOT, stdout=log_path.open("w"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        campaign = Campaign.objects.create(organisation=organisation, name="bench", status="running")
        variant = Variant.objects.create(campaign=campaign, label="A", kind="image", file="bench.jpg")
        tester = Tester.objects.create(campaign=campaign, token_hash=uuid.uuid4().hex)
        time.sleep(8)  # the worker starts and loads its models (not part of the throughput)
        warm = Frame.objects.create(campaign=campaign, tester=tester, variant=variant, sequence=0, media_time_ms=0)
        frame_submit_for_analysis(frame_id=warm.pk, image_bytes=frames[0].jpeg)
        _wait(lambda: not Frame.objects.filter(pk=warm.pk, outcome="pending").exists(), log_path)
        rows = Frame.objects.bulk_create(
            Frame(campaign=campaign, tester=tester, variant=variant, sequence=i + 1, media_time_ms=i)
            for i in range(len(frames))
        )
        pids = _worker_pids(worker.pid)
        cpu_start, main_cpu_start = _cpu_seconds(pids), _cpu_seconds(pids[:1])
        start, start_publish_cpu = time.perf_counter(), time.thread_time()
        for row, frame in zip(rows, frames, strict=True):
            frame_submit_for_analysis(frame_id=row.pk, image_bytes=frame.jpeg)
        published, publish_cpu = time.perf_counter() - start, time.thread_time() - start_publish_cpu
        _wait(lambda: not Frame.objects.filter(campaign=campaign, outcome="pending").exists(), log_path)
        elapsed = time.perf_counter() - start
        worker_cpu, main_cpu = _cpu_seconds(pids) - cpu_start, _cpu_seconds(pids[:1]) - main_cpu_start
        figures = {
            "worker_concurrency": concurrency,
            "worker_end_to_end_fps": round(len(frames) / elapsed, 1),
            "publish_fps": round(len(frames) / published, 1),
            # What queueing one frame costs the upload request (CPU of this thread).
            "publish_cpu_us_per_frame": round(1e6 * publish_cpu / len(frames)),
            # CPU of the worker's processes (main + pool) per frame: its cost whatever the load.
            "worker_cpu_ms_per_frame": round(1000 * worker_cpu / len(frames), 2),
            # Of which the main process: taking messages from Redis, batching, acknowledging.
            "worker_main_cpu_ms_per_frame": round(1000 * main_cpu / len(frames), 2),
        }
        figures.update(_peak_rss_mib(worker.pid))
        return figures
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
        organisation.delete()  # cascades to the bench campaign's frames and predictions
        app.control.purge()


def _wait(condition: Callable[[], bool], log_path: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"worker did not finish; log:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--no-worker", action="store_true", help="Skip the Celery + Redis + database run.")
    parser.add_argument("--no-stages", action="store_true", help="Skip the in-process stage timings.")
    parser.add_argument("--with-fer", action="store_true", help="Also time the fer package (slow, imports TF).")
    arguments = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    with throwaway_database("mimik_bench_inference"):
        run(arguments)


def run(arguments: argparse.Namespace) -> None:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import cv2

    from inference.sample_frames import benchmark_frames

    cv2.setNumThreads(1)  # as in the workers (inference.tasks): one process per core
    frames = benchmark_frames(arguments.frames)
    figures = {"cpu_count": os.cpu_count(), "load_average": [round(load, 2) for load in os.getloadavg()]}
    if not arguments.no_stages:
        figures.update(in_process(frames, batch=arguments.batch))
    if not arguments.no_worker:
        figures.update(through_worker(frames, concurrency=arguments.concurrency))
    if arguments.with_fer:
        try:
            figures.update(fer_package(frames[:60]))
        except Exception as error:  # the comparison is optional; keep our own figures
            figures["fer_detect_emotions_fps"] = f"failed: {error.__class__.__name__}: {error}"
    figures["load_average_after"] = [round(load, 2) for load in os.getloadavg()]
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
