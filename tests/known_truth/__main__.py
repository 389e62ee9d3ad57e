"""Known-truth campaign benchmark: real faces through the whole product, numbers held against the truth.

    python -m tests.known_truth --faces-dir ../shared/data/faces/test [--testers 40] [--out result.json]

What it does:
1. Splits the labelled test faces into two stratified halves with `--seed`.
2. Calibrates the active (default) model on the first half with the product's own command,
   `manage.py calibrate_model`, which stores the calibration with the model version and activates
   it. By default the calibration faces first take the campaign frames' path: each is enlarged into
   a 640x480 webcam-like JPEG and cropped by the workers' own detector, gates and crop, so the
   calibration fits what the workers will see (`--calibrate-on crops` uses the 48x48 crops as
   they are, for comparison). Faces the gates reject are left out and counted.
3. Creates a running campaign with two variants and `--testers` consenting testers through the
   services (as tests/load does). Every tester sees both variants; their frames show faces of the
   second half only, drawn with set shares per variant (VARIANT_SHARES; each tester's own mix
   varies around them), each enlarged into a webcam-like JPEG.
4. Serves the product the way production does: uvicorn (`--web-workers`), a Celery worker
   (`--concurrency`), PostgreSQL and a redis-server of its own; uploads every frame through
   POST /api/t/<token>/frames/ and waits for every outcome.
5. Logs in as a researcher of the campaign's organisation and reads
   GET /api/campaigns/<id>/dashboard/ (the dashboard's own numbers), then prints per variant and
   emotion the true share, the thresholded ratio, the estimated share with its interval and the
   error, whether the paired comparisons pick the right variant, the books, and the outcomes per
   true emotion (a quality gate that silently dropped one emotion would bias every figure).
   A readable table, then the same as JSON (also to `--out`).

Needs: the labelled faces folder (one sub-folder per emotion, FER2013 test split; research data,
read from the path given or MIMIK_FACES_DIR and never copied into the project; the calibration
crops go to a temporary folder that is deleted at the end), PostgreSQL on DATABASE_ADMIN_URL
(default postgres://postgres@127.0.0.1:5432/postgres; a throwaway database `mimik_known_truth` is
created and dropped), `redis-server` on the PATH (its own instance on a free port), httpx and
scikit-image (dev requirements). Exit code 0 when every upload got an outcome, 1 otherwise, 2
without faces.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tests.known_truth import campaign as known
from tests.known_truth.report import format_report, report_of
from tests.load.servers import free_port, stack_environment

if TYPE_CHECKING:
    from inference.models import ModelVersion
    from tests.load.__main__ import Stack

ROOT = Path(__file__).resolve().parents[2]
DATABASE = "mimik_known_truth"
VARIANT_KEYS = ("A", "B")
# Shares per variant (the example): A is the happier poster, B the sadder one.
VARIANT_SHARES = {
    "A": {"happy": 0.40, "sad": 0.10, "neutral": 0.20, "surprise": 0.10, "angry": 0.10, "fear": 0.08, "disgust": 0.02},
    "B": {"happy": 0.15, "sad": 0.30, "neutral": 0.25, "surprise": 0.06, "angry": 0.12, "fear": 0.10, "disgust": 0.02},
}
RESEARCHER = ("known-truth", "known-truth-password-1")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.known_truth", description=__doc__.split("\n\n")[0])
    parser.add_argument("--faces-dir", help="labelled faces (<emotion>/*.png); default $MIMIK_FACES_DIR")
    parser.add_argument("--seed", type=int, default=0, help="halves, draws and frame placement")
    parser.add_argument("--repeats", type=int, default=1, help="campaigns, with seeds seed, seed + 1, ...")
    parser.add_argument("--testers", type=int, default=40)
    parser.add_argument("--frames-per-variant", type=int, default=25, help="frames each tester sends per variant")
    parser.add_argument("--concentration", type=float, default=30.0, help="how closely testers follow the shares")
    parser.add_argument("--calibrate-on", choices=["frames", "crops"], default="frames")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=2, help="Celery pool size")
    parser.add_argument("--timeout", type=float, default=900, help="max wait for outcomes after the uploads")
    parser.add_argument("--keep", action="store_true", help="keep the database, the logs and the crops")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    return parser.parse_args(argv)


def environment(workdir: Path, redis_port: int) -> dict[str, str]:
    return stack_environment(database=DATABASE, redis_port=redis_port, workdir=workdir, purpose="known-truth")


def write_calibration_folder(
    faces: list[np.ndarray],
    labels: np.ndarray,
    indices: np.ndarray,
    class_names: list[str],
    folder: Path,
    *,
    how: str,
    seed: int,
    input_size: int,
) -> dict[str, Any]:
    """The calibration half as <emotion>/*.png: the worker's crops of webcam frames (`frames`) or
    the faces as they are (`crops`). Returns per emotion how many faces went in and how many the
    gates kept."""
    from PIL import Image

    from tests.known_truth.frames import webcam_jpeg, worker_crop

    random = np.random.default_rng([seed, 1])
    kept: Counter = Counter()
    given: Counter = Counter()
    dropped: dict[str, Counter] = {}
    for index in indices:
        name = class_names[labels[index]]
        given[name] += 1
        if how == "frames":
            outcome, crop = worker_crop(webcam_jpeg(faces[index], random), input_size=input_size)
        else:
            outcome, crop = "prediction", faces[index]
        if crop is None:
            dropped.setdefault(name, Counter())[outcome] += 1
            continue
        (folder / name).mkdir(parents=True, exist_ok=True)
        Image.fromarray(crop).save(folder / name / f"face-{index:05d}.png")
        kept[name] += 1
    return {
        name: {"faces": given[name], "kept": kept[name], "dropped": dict(dropped.get(name, {}))} for name in class_names
    }


def calibrate(env: dict[str, str], model_version_id: int, folder: Path, seed: int) -> dict[str, Any]:
    """`manage.py calibrate_model` (the product's command): fit, check on held-out faces, store, activate."""
    command = [
        sys.executable,
        "manage.py",
        "calibrate_model",
        "--model-version",
        str(model_version_id),
        "--faces-dir",
        str(folder),
        "--seed",
        str(seed),
    ]
    started = time.monotonic()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    output = (result.stdout + result.stderr).strip()
    print(output, flush=True)
    return {
        "command": " ".join(["python", *command[1:]]),
        "exit_code": result.returncode,
        "seconds": round(time.monotonic() - started, 1),
    }


def render_campaign_frames(
    plan: list[known.PlannedFrame],
    faces: list[np.ndarray],
    labels: np.ndarray,
    pool: np.ndarray,
    class_names: list[str],
    seed: int,
) -> list[tuple[known.PlannedFrame, bytes]]:
    """Each planned frame: a face of its emotion from the held-out half (drawn with replacement),
    enlarged into its own webcam-like JPEG."""
    from tests.known_truth.frames import webcam_jpeg

    random = np.random.default_rng([seed, 2])
    pools = {name: pool[labels[pool] == index] for index, name in enumerate(class_names)}
    return [(frame, webcam_jpeg(faces[int(random.choice(pools[frame.label]))], random)) for frame in plan]


def run_campaign(
    stack: Stack,
    args: argparse.Namespace,
    seed: int,
    faces: list[np.ndarray],
    labels: np.ndarray,
    class_names: list[str],
    model: ModelVersion,
) -> dict[str, Any]:
    """One known-truth campaign: split with `seed`, calibrate on one half, campaign from the other."""
    from emotion_math.calibration import stratified_halves

    calibration_half, campaign_half = stratified_halves(labels, 0.5, seed)
    timings: dict[str, float] = {}
    result: dict[str, Any] = {
        "seed": seed,
        "calibration_half": len(calibration_half),
        "campaign_half": len(campaign_half),
    }
    mark = time.monotonic()
    crops_dir = stack.workdir / f"calibration-faces-{seed}"
    result["calibration_set"] = write_calibration_folder(
        faces,
        labels,
        calibration_half,
        class_names,
        crops_dir,
        how=args.calibrate_on,
        seed=seed,
        input_size=model.input_size,
    )
    timings["calibration_faces"] = time.monotonic() - mark
    mark = time.monotonic()
    result["calibration_command"] = calibrate(stack.env, model.pk, crops_dir, seed)
    timings["calibrate_model"] = time.monotonic() - mark
    if result["calibration_command"]["exit_code"] != 0:
        print("calibrate_model refused or failed; the dashboard will have no estimated shares", file=sys.stderr)

    mark = time.monotonic()
    campaign_id, links = known.create_campaign(VARIANT_KEYS, testers=args.testers, name=f"Known truth {seed}")
    username = f"{RESEARCHER[0]}-{seed}"
    known.researcher_for(campaign_id, username=username, password=RESEARCHER[1])
    plan = known.plan_frames(
        VARIANT_SHARES,
        testers=args.testers,
        frames_per_variant=args.frames_per_variant,
        seed=seed,
        concentration=args.concentration,
        viewing_orders=[link.order for link in links],
    )
    frames = render_campaign_frames(plan, faces, labels, campaign_half, class_names, seed)
    timings["campaign_frames"] = time.monotonic() - mark

    if not any(name.startswith("worker") for name in stack.processes):
        mark = time.monotonic()
        stack.start_worker("worker0", args.concurrency)
        # As in production: the default queue's tasks (recomputing predictions after a calibration
        # is activated, the periodic ones) have a worker of their own, beside the inference one.
        stack.start_worker("default0", 1, queues="default")
        stack.start_web(args.web_workers)
        timings["start_servers"] = time.monotonic() - mark
    base_url = f"http://127.0.0.1:{stack.web_port}"
    print(f"[known-truth] seed {seed}: {len(frames)} frames from {args.testers} testers to {base_url}", flush=True)
    mark = time.monotonic()
    books = known.upload_frames(base_url, links, frames)
    timings["upload"] = time.monotonic() - mark
    _pending, waited = known.wait_for_outcomes(campaign_id, timeout=args.timeout)
    timings["drain_after_upload"] = waited
    outcomes = known.stored_outcomes(campaign_id, links)
    mark = time.monotonic()
    dashboard = known.read_dashboard(base_url, campaign_id, username=username, password=RESEARCHER[1])
    timings["dashboard"] = time.monotonic() - mark
    result["report"] = report_of(plan=plan, outcomes=outcomes, books=books, links=links, dashboard=dashboard)
    result["seconds"] = {key: round(value, 1) for key, value in timings.items()}
    return result


def format_calibration_set(calibration_set: dict[str, Any]) -> str:
    parts = []
    for name, row in calibration_set.items():
        dropped = sum(row["dropped"].values())
        parts.append(
            f"{name} {row['kept']}/{row['faces']}" + (f" ({dropped} dropped: {row['dropped']})" if dropped else "")
        )
    return "calibration faces kept by the gates: " + "; ".join(parts)


def summary(campaigns: list[dict[str, Any]]) -> dict[str, Any]:
    """Over the campaigns: the largest error on happy, sad and neutral, and how often the paired
    comparisons were right."""
    largest = [
        run["report"]["largest_error_focus"] for run in campaigns if run["report"]["largest_error_focus"] is not None
    ]
    return {
        "campaigns": len(campaigns),
        "largest_error_focus": largest,
        "without_estimates": len(campaigns) - len(largest),
        "within_0.05": sum(error <= 0.05 for error in largest),
        "paired_right": {
            source: sum(bool(run["report"]["paired_right"].get(source)) for run in campaigns)
            for source in ("estimated_share", "threshold_ratio")
        },
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, str(ROOT))
    from inference.default_model import DEFAULT_MODEL
    from inference.labelled_faces import FacesFolderMissing, load_labelled_faces
    from ml.calibrate import faces_folder
    from tests.load.__main__ import Stack, admin_sql

    class_names = list(DEFAULT_MODEL["class_names"])
    try:
        folder = faces_folder(args.faces_dir)
        faces, labels = load_labelled_faces(folder, class_names)
    except FacesFolderMissing as error:
        print(f"No known-truth benchmark: {error}", file=sys.stderr)
        return 2
    if shutil.which("redis-server") is None:
        sys.exit("redis-server is not installed (apt-get install -y redis-server).")
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="mimik-known-truth-"))
    stack = Stack(workdir, {}, free_port(), free_port())
    stack.env = environment(workdir, stack.redis_port)
    os.environ.update(stack.env)
    admin_url = stack.env["DATABASE_ADMIN_URL"]
    admin_sql(admin_url, f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    admin_sql(admin_url, f"CREATE DATABASE {DATABASE}")
    result: dict[str, Any] = {
        "setup": {
            **{key: (str(value) if isinstance(value, Path) else value) for key, value in vars(args).items()},
            "faces_dir": str(folder),
            "faces": len(labels),
            "variant_shares": VARIANT_SHARES,
            "cpus": os.cpu_count(),
            "load_average_at_start": round(os.getloadavg()[0], 2),
        },
        "campaigns": [],
    }
    try:
        stack.start_redis()
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=stack.env, check=True
        )
        import django

        django.setup()
        from inference.services import model_version_ensure_default

        model = model_version_ensure_default()
        result["setup_seconds"] = round(time.monotonic() - started, 1)
        for repeat in range(args.repeats):
            campaign_run = run_campaign(stack, args, args.seed + repeat, faces, labels, class_names, model)
            result["campaigns"].append(campaign_run)
            print()
            print(format_calibration_set(campaign_run["calibration_set"]))
            print(format_report(campaign_run["report"]))
            print(f"seconds: {campaign_run['seconds']}", flush=True)
    finally:
        stack.stop_all()
        if not args.keep:
            admin_sql(admin_url, f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
            shutil.rmtree(workdir, ignore_errors=True)
    result["summary"] = summary(result["campaigns"])
    result["total_seconds"] = round(time.monotonic() - started, 1)
    overview = result["summary"]
    print(
        f"\n{overview['campaigns']} campaign(s): largest error on happy/sad/neutral "
        f"{[round(error, 3) for error in overview['largest_error_focus']]}, within 0.05 in {overview['within_0.05']}"
        f" (without estimated shares: {overview['without_estimates']}); "
        f"paired test right (estimated share) {overview['paired_right']['estimated_share']}, "
        f"(thresholded ratio) {overview['paired_right']['threshold_ratio']}; total {result['total_seconds']} s"
    )
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if args.out:
        args.out.write_text(text)
    complete = all(
        run["report"]["books"]["lost"] == 0 and run["report"]["books"]["pending"] == 0 for run in result["campaigns"]
    )
    return 0 if complete and result["campaigns"] else 1


if __name__ == "__main__":
    sys.exit(main())
