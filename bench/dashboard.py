"""Benchmark: build the dashboard data for 1,000 testers x 2 variants x 300 frames (600,000
predictions) in PostgreSQL, and compare it with a bare count over the same rows. The model has an
active calibration (temperature, fitted on generated faces) and every prediction carries all seven
raw and calibrated probabilities, so the counts, counting quality and estimated shares are all timed.
Every tester also has 3 resting-face and 2 + 2 posed baseline snapshots, and rated both variants, so
the baseline and say-versus-face panels have all of them to read. The organisation has five finished
campaigns of 200 testers each (BENCH_FINISHED, BENCH_FINISHED_TESTERS), for the norms panel.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python -m bench.dashboard

It creates its own throwaway database on DATABASE_URL's server (default `mimik_bench`, override with
BENCH_DATABASE), migrates it, fills it with INSERT ... SELECT generate_series, prints one JSON object
and drops the database again. The INSERTs fire the same triggers that keep inference.CalibratedSum
and tester_sessions.FrameOutcomeCount in production, so the fill time includes them and the
dashboard reads the sums they wrote. BENCH_RUNS=n times n builds of each kind (7 by default).

The first build is timed alone ("first_build_ms"): it counts the finished campaigns' happy shares,
which later builds read from the cache. The whole page is then timed with and without the
baseline, say-versus-face and norms panels, the two alternating run by run so that both see the
same machine.
"""

from __future__ import annotations

import json
import os
import secrets
import statistics
import time
from collections.abc import Callable
from typing import Any

from bench.database import throwaway_database

TESTERS = 1000
FINISHED = int(os.environ.get("BENCH_FINISHED", "5"))  # closed campaigns of the same organisation
FINISHED_TESTERS = int(os.environ.get("BENCH_FINISHED_TESTERS", "200"))
FRAMES_PER_VARIANT = 300
CAPTURE_INTERVAL_MS = 2000
RUNS = int(os.environ.get("BENCH_RUNS", "7"))  # timed builds of each kind
TARGET_MS = 300
CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
CALIBRATION_FACES_PER_CLASS = 500
# What dashboard_data calls for the baseline, say-versus-face and norms panels.
NEW_PANELS = ("baseline_panel", "say_face_summary", "benchmark")


def _activate_generated_calibration(model: Any) -> Any:
    """A temperature calibration fitted on generated over-confident faces, active without recompute
    (the fill writes the calibrated columns itself, in SQL, much faster than the recompute task)."""
    import numpy as np

    from emotion_math import calibration as calibration_math
    from emotion_math.calibration import calibrate
    from emotion_math.report import to_jsonable
    from inference.calibrations import calibration_create
    from inference.models import Calibration

    random = np.random.default_rng(0)
    labels = np.repeat(np.arange(len(CLASSES)), CALIBRATION_FACES_PER_CLASS)
    features = random.normal(size=(len(labels), len(CLASSES))) + 1.5 * np.eye(len(CLASSES))[labels]
    raw = calibration_math.softmax(1.5 * features * 3.0)
    result = calibrate(raw, labels, class_names=CLASSES, methods=["temperature"])
    calibration = calibration_create(
        model_version=model, result=to_jsonable(result), raw_probabilities=raw, labels=labels, activate=False
    )
    # The one this replaces (the default model ships with one) steps down first: one active per model.
    Calibration.objects.filter(model_version=model, is_active=True).update(is_active=False)
    Calibration.objects.filter(pk=calibration.pk).update(is_active=True)
    return calibration


def _median_ms(function: Callable[[], object], runs: int = RUNS) -> tuple[float, list[float]]:
    function()  # warm caches and the connection, as a page that is already being watched would
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.median(timings), [round(t, 1) for t in timings]


def fill(finished: int = 0) -> Any:
    """One organisation, one running campaign with two video variants, 1,000 testers who saw both,
    and `finished` closed campaigns like it with FINISHED_TESTERS testers each."""
    from django.db import connection

    from campaigns.models import Campaign, Organisation
    from inference.selectors import get_active_model

    organisation = Organisation.objects.create(name="Benchmark")
    model = get_active_model()
    calibration = _activate_generated_calibration(model)
    for number in range(finished):
        closed = Campaign.Status.CLOSED
        _fill_campaign(
            organisation,
            model,
            calibration,
            name=f"Finished {number + 1}",
            status=closed,
            seed=number / 10,
            testers=FINISHED_TESTERS,
        )
    campaign = _fill_campaign(organisation, model, calibration, name="Benchmark", status=Campaign.Status.RUNNING)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return campaign


def _fill_campaign(
    organisation: Any,
    model: Any,
    calibration: Any,
    *,
    name: str,
    status: str,
    seed: float = 0.42,
    testers: int = TESTERS,
    frames_per_variant: int = FRAMES_PER_VARIANT,
    capture_interval_ms: int = CAPTURE_INTERVAL_MS,
) -> Any:
    from django.db import connection

    from campaigns.models import Campaign, SurveyQuestion, Variant
    from sessions.models import Tester

    campaign = Campaign.objects.create(
        organisation=organisation,
        name=name,
        status=status,
        capture_interval_seconds=capture_interval_ms / 1000,
        posed_expressions=True,
    )
    duration = frames_per_variant * capture_interval_ms
    variants = [
        Variant.objects.create(
            campaign=campaign,
            label=label,
            kind="video",
            file=f"v/{label}.mp4",
            content_type="video/mp4",
            duration_ms=duration,
            position=position,
        )
        for position, label in enumerate(["A", "B"])
    ]
    SurveyQuestion.objects.create(campaign=campaign, text="How much do you like it?")
    Tester.objects.bulk_create(
        Tester(
            campaign=campaign,
            token_hash=f"bench-{campaign.pk}-{n}",
            variant_order=[str(v.pk) for v in (variants if n % 2 else variants[::-1])],
            order_slot=n % 2,
            camera=Tester.Camera.GRANTED,
        )
        for n in range(testers)
    )
    parameters = {
        "campaign": campaign.pk,
        "model": model.pk,
        "frames": frames_per_variant - 1,
        "version": calibration.version,
        "inverse_temperature": 1 / calibration.parameters["temperature"],
        "all_classes": CLASSES,
    }
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(%s)", [seed])
        cursor.execute(
            """
            UPDATE tester_sessions_tester SET consented_at = now(), completed_at = now()
            WHERE campaign_id = %(campaign)s
            """,
            parameters,
        )
        cursor.execute(
            f"""
            INSERT INTO tester_sessions_frame (campaign_id, tester_id, variant_id, sequence, media_time_ms,
                captured_at, received_at, byte_size, outcome, outcome_at, quality, kept_image, retain_until)
            SELECT t.campaign_id, t.id, v.id, s, s * {capture_interval_ms}, now(), now(), 20000, 'pending',
                NULL, '{{}}'::jsonb, NULL, NULL
            FROM tester_sessions_tester t
            JOIN campaigns_variant v ON v.campaign_id = t.campaign_id
            CROSS JOIN generate_series(0, %(frames)s) AS s
            WHERE t.campaign_id = %(campaign)s
            """,  # noqa: S608  (only our own integer constant is formatted in)
            parameters,
        )
        # Uploaded, then analysed in one statement, as the worker claims its batches: the frame
        # counts' trigger adds them up once per statement.
        cursor.execute(
            "UPDATE tester_sessions_frame SET outcome = 'prediction', outcome_at = now()"
            " WHERE campaign_id = %(campaign)s",
            parameters,
        )
        # Variant B makes people a little happier (30 % of frames vs 25 %), so the verdict has
        # something to find; confidence is uniform in 0.3 .. 1.0 and the other six classes share the
        # rest equally. Calibrated values: temperature scaling, p ** (1 / T) normalised, as
        # emotion_math.calibration.apply_calibration computes it (probabilities floored at 1e-7).
        cursor.execute(
            """
            INSERT INTO inference_prediction (frame_id, model_version_id, campaign_id, variant_id, tester_id,
                media_time_ms, probabilities, top_class, top_probability, face_box, created_at,
                calibration_version, calibrated_probabilities, calibrated_top_class, calibrated_top_probability)
            SELECT id, %(model)s, campaign_id, variant_id, tester_id, media_time_ms,
                (SELECT jsonb_object_agg(c, CASE WHEN c = top_class THEN top_probability ELSE other END)
                 FROM unnest(%(all_classes)s::text[]) AS c),
                top_class, top_probability, '[]'::jsonb, now(), %(version)s,
                (SELECT jsonb_object_agg(
                    c, round((CASE WHEN c = top_class THEN a ELSE b END / (a + 6 * b))::numeric, 6))
                 FROM unnest(%(all_classes)s::text[]) AS c),
                top_class, a / (a + 6 * b)
            FROM (
                SELECT *, power(greatest(top_probability, 1e-7), %(inverse_temperature)s) AS a,
                    power(greatest(other, 1e-7), %(inverse_temperature)s) AS b
                FROM (
                    SELECT *, (1 - top_probability) / 6 AS other FROM (
                        SELECT f.*,
                            CASE WHEN random() < 0.25 + 0.05 * v.position THEN 'happy'
                                 ELSE (%(classes)s::text[])[1 + floor(random() * 6)::int] END AS top_class,
                            0.3 + 0.7 * random() AS top_probability
                        FROM tester_sessions_frame f JOIN campaigns_variant v ON v.id = f.variant_id
                        WHERE f.campaign_id = %(campaign)s
                    ) AS drawn
                ) AS spread
            ) AS frames
            """,
            {**parameters, "classes": [name for name in CLASSES if name != "happy"]},
        )
        cursor.execute(
            """
            INSERT INTO tester_sessions_surveyanswer (tester_id, variant_id, question_id, rating, comment, answered_at)
            SELECT t.id, v.id, q.id, 1 + floor(random() * 7)::int, '', now()
            FROM tester_sessions_tester t
            JOIN campaigns_variant v ON v.campaign_id = t.campaign_id
            JOIN campaigns_surveyquestion q ON q.campaign_id = t.campaign_id
            WHERE t.campaign_id = %(campaign)s
            """,
            parameters,
        )
        # Baseline snapshots, analysed with the active calibration: 3 resting faces (neutral half of
        # the time), 2 posed smiles (happy 80 % of the time) and 2 posed neutral faces per tester.
        cursor.execute(
            """
            INSERT INTO tester_sessions_baselinesnapshot (campaign_id, tester_id, kind, sequence, created_at,
                byte_size, outcome, quality, model_version_id, probabilities, top_class, top_probability,
                face_box, calibration_version, calibrated_probabilities, calibrated_top_class,
                calibrated_top_probability)
            SELECT campaign_id, tester_id, kind, sequence, now(), 20000, 'prediction', '{}'::jsonb, %(model)s,
                (SELECT jsonb_object_agg(c, CASE WHEN c = top_class THEN top_probability ELSE other END)
                 FROM unnest(%(all_classes)s::text[]) AS c),
                top_class, top_probability, '[]'::jsonb, %(version)s,
                (SELECT jsonb_object_agg(
                    c, round((CASE WHEN c = top_class THEN a ELSE b END / (a + 6 * b))::numeric, 6))
                 FROM unnest(%(all_classes)s::text[]) AS c),
                top_class, a / (a + 6 * b)
            FROM (
                SELECT *, power(greatest(top_probability, 1e-7), %(inverse_temperature)s) AS a,
                    power(greatest(other, 1e-7), %(inverse_temperature)s) AS b
                FROM (
                    SELECT *, (1 - top_probability) / 6 AS other FROM (
                        SELECT t.campaign_id, t.id AS tester_id, k.kind, s.sequence,
                            CASE WHEN random() < k.target_share THEN k.target
                                 ELSE (%(all_classes)s::text[])[1 + floor(random() * 7)::int] END AS top_class,
                            0.3 + 0.7 * random() AS top_probability
                        FROM tester_sessions_tester t
                        CROSS JOIN (VALUES ('resting', 'neutral', 0.5, 3), ('posed_smile', 'happy', 0.8, 2),
                            ('posed_neutral', 'neutral', 0.7, 2)) AS k (kind, target, target_share, snapshots)
                        CROSS JOIN LATERAL generate_series(0, k.snapshots - 1) AS s (sequence)
                        WHERE t.campaign_id = %(campaign)s
                    ) AS drawn
                ) AS spread
            ) AS snapshots
            """,
            parameters,
        )
    return campaign


def measure(campaign: Any) -> dict[str, Any]:
    from django.db import connection

    from dashboard import selectors
    from inference.selectors import get_model_for_campaign

    model = get_model_for_campaign(campaign)
    variants = list(campaign.variants.order_by("position"))

    def build() -> str:
        return json.dumps(selectors.dashboard_data(campaign=campaign))

    def build_without_new_panels() -> str:
        # The same page with the baseline, say-versus-face and norms panels left empty.
        builders = {name: getattr(selectors, name) for name in NEW_PANELS}
        try:
            for name in NEW_PANELS:
                setattr(selectors, name, lambda **_arguments: None)
            return build()
        finally:
            for name, builder in builders.items():
                setattr(selectors, name, builder)

    def bare_count() -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM inference_prediction WHERE campaign_id = %s AND model_version_id = %s",
                [campaign.pk, model.pk],
            )
            return cursor.fetchone()[0]

    timings = _timings(build, build_without_new_panels, bare_count, campaign, model, variants)
    data = selectors.dashboard_data(campaign=campaign)
    happy = next(c for c in data["comparisons"] if c["class_name"] == "happy")
    happy_share = next(c for c in data["estimated_shares"]["comparisons"] if c["class_name"] == "happy")
    happy_decision = next(e for e in data["decision"]["emotions"] if e["class_name"] == "happy")
    norms = data["norms"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        server_version = cursor.fetchone()[0].split(",")[0]
        cursor.execute("SELECT count(*) FROM inference_calibratedsum")
        sums = cursor.fetchone()[0]
    return {
        "predictions": bare_count(),
        "testers": data["testers"]["included"],
        "variants": len(variants),
        "calibrated_sum_rows": sums,
        **timings,
        "happy_verdict": happy["verdict"],
        "happy_share_verdict": happy_share["verdict"],
        "happy_decision": happy_decision["sentence"],
        "baseline": data["baseline"]["sentence"],
        "posed": data["baseline"]["posed_sentence"],
        "say_face": [
            row["agreement"]["sentence"] for question in data["say_face"]["questions"] for row in question["pairs"]
        ],
        "norms": norms["sentences"] + norms["notes"],
        "calibration": data["calibration"]["version"],
        "stale_frames": data["calibration"]["stale_frames"],
        "postgres": server_version,
    }


def _alternating_ms(first: Callable, second: Callable, runs: int = RUNS) -> tuple[list[float], list[float]]:
    """Timings of two functions, one run of each in turn (after one warming run of each)."""
    first()
    second()
    timings: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        for function, times in zip((first, second), timings, strict=True):
            started = time.perf_counter()
            function()
            times.append((time.perf_counter() - started) * 1000)
    return timings


def _timings(
    build: Callable, build_without: Callable, bare_count: Callable, campaign: Any, model: Any, variants: list
) -> dict[str, Any]:
    from dashboard import baseline, calibrated, counting, funnel, norms, say_face, testers, timeline, verdicts
    from dashboard.matrix import calibrated_sums, tester_matrix

    started = time.perf_counter()
    build()  # the finished campaigns' happy shares are counted, then kept
    first_ms = (time.perf_counter() - started) * 1000
    with_runs, without_runs = _alternating_ms(build, build_without)
    dashboard_ms, without_ms = statistics.median(with_runs), statistics.median(without_runs)
    count_ms, count_runs = _median_ms(bare_count)
    threshold = campaign.confidence_threshold
    calibration = counting.active_calibration(model)
    matrix = tester_matrix(
        campaign=campaign, model=model, threshold=threshold, variants=variants, calibration=calibration
    )
    ratios = matrix.ratios()
    parts = {
        "calibrated_sums": _median_ms(
            lambda: calibrated_sums(
                campaign=campaign, model=model, calibration=calibration, class_names=list(model.class_names)
            )
        )[0],
        "tester_matrix": _median_ms(
            lambda: tester_matrix(
                campaign=campaign, model=model, threshold=threshold, variants=variants, calibration=calibration
            )
        )[0],
        "counting_quality": _median_ms(lambda: calibrated.counting_quality(calibration, threshold))[0],
        "estimated_shares": _median_ms(
            lambda: calibrated.estimated_shares(calibration=calibration, variants=variants, means=matrix.shares_input())
        )[0],
        "decision_summary": _median_ms(
            lambda: verdicts.decision_summary(
                campaign=campaign, matrix=matrix, calibration=calibration, invited=TESTERS, threshold=threshold
            )
        )[0],
        "frame_outcomes": _median_ms(lambda: funnel.frame_outcomes(campaign))[0],
        "testers": _median_ms(
            lambda: testers.tester_counting(
                campaign=campaign,
                testers=testers.campaign_testers(campaign),
                matrix=matrix,
                variants=variants,
                senders=set(),
            )
        )[0],
        "timeline": _median_ms(
            lambda: timeline.timeline(
                campaign=campaign,
                model=model,
                threshold=threshold,
                variants=variants,
                excluded=[],
                calibration=calibration,
                stale=bool(matrix.stale_frames),
            )
        )[0],
        "baseline_panel": _median_ms(
            lambda: baseline.baseline_panel(campaign=campaign, matrix=matrix, model=model, calibration=calibration)
        )[0],
        "say_face_summary": _median_ms(
            lambda: say_face.say_face_summary(campaign=campaign, matrix=matrix, ratios=ratios)
        )[0],
        "norms_benchmark": _median_ms(
            lambda: norms.benchmark(
                campaign=campaign,
                model=model,
                calibration=calibration,
                threshold=threshold,
                matrix=matrix,
                ratios=ratios,
            )
        )[0],
    }
    return {
        "first_build_ms": round(first_ms, 1),
        "dashboard_ms_median": round(dashboard_ms, 1),
        "dashboard_ms_runs": [round(t, 1) for t in with_runs],
        "without_new_panels_ms_median": round(without_ms, 1),
        "without_new_panels_ms_runs": [round(t, 1) for t in without_runs],
        "count_ms_median": round(count_ms, 1),
        "count_ms_runs": count_runs,
        "ratio_dashboard_to_count": round(dashboard_ms / count_ms, 2),
        "target_ms": TARGET_MS,
        "within_target": dashboard_ms < TARGET_MS,
        "parts_ms_median": {key: round(value, 1) for key, value in parts.items()},
    }


def main() -> None:
    os.environ["DEBUG"] = "0"  # DEBUG would record every query and slow the timings down
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(32))  # a throwaway process, no sessions
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    with throwaway_database(os.environ.get("BENCH_DATABASE", "mimik_bench")):
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections

        started = time.perf_counter()
        call_command("migrate", verbosity=0)
        migrated = time.perf_counter()
        campaign = fill(finished=FINISHED)
        filled = time.perf_counter()
        result = {
            "load_average": [round(load, 2) for load in os.getloadavg()],
            "migrate_s": round(migrated - started, 1),
            "fill_s": round(filled - migrated, 1),
            **measure(campaign),
        }
        connections.close_all()
        result["load_average_after"] = [round(load, 2) for load in os.getloadavg()]
        print(json.dumps(result, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
