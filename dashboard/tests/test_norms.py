"""The organisation's benchmark on built campaigns whose every variant's happy share and rating are
chosen: one tester each, smiling at a known number of 10 frames."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from campaigns.models import Campaign, Organisation
from dashboard import counting
from dashboard.norms import benchmark, earlier_figures, norm_rows
from dashboard.selectors import dashboard_data
from inference.models import Calibration, Prediction
from inference.tests.generated import unloadable_model
from sessions import models as session_models
from sessions import services as tester_services

from .conftest import active_model, build_campaign, dashboard_inputs, finished, make_current, panel_campaign

CLOSED = Campaign.Status.CLOSED


def current(organisation: Organisation) -> Campaign:
    """Running: A at 7 of 20 frames happy (35 %) rated 4, B at 6 of 10 (60 %) rated 7."""
    return build_campaign(organisation, {"t": ((7, 20), (6, 10))}, {"t": (4, 7)}).campaign


def noise(organisation: Organisation) -> None:
    """Campaigns the benchmark must not see: another organisation's, a demonstration, a running and
    a draft one; all at the extremes, so counting any would move every percentile."""
    other = Organisation.objects.create(name="Other Lab")
    extremes = ((0, 1), (10, 7))
    finished(other, *extremes)
    finished(organisation, *extremes, is_demo=True)
    finished(organisation, *extremes, status=Campaign.Status.RUNNING)
    finished(organisation, *extremes, status=Campaign.Status.DRAFT)


def norms_of(campaign: Campaign) -> dict:
    inputs = dashboard_inputs(campaign)
    with translation.override("en"):
        return benchmark(campaign=campaign, ratios=inputs["matrix"].ratios(), **inputs)


def by_label(data: dict, label: str) -> dict:
    return next(row for row in data["variants"] if row["label"] == label)


@pytest.mark.django_db
def test_four_finished_variants_are_one_short_of_a_benchmark(organisation):
    finished(organisation, (1, 1), (2, 2))
    finished(organisation, (3, 3), (4, 4))
    noise(organisation)

    data = norms_of(current(organisation))

    assert data["earlier_campaigns"] == 2
    for label in ("A", "B"):
        for name in ("happy_share", "rating"):
            figure = by_label(data, label)[name]
            assert (figure["earlier"], figure["needed"], figure["percentile"], figure["median"]) == (4, 1, None, None)
            assert figure["sentence"].endswith(": 1 more finished variant needed.")
    assert by_label(data, "A")["happy_share"]["value"] == pytest.approx(0.35)


@pytest.mark.django_db
def test_six_finished_variants_place_each_variant_by_percentile_rank(organisation):
    # Happy shares 10 % to 60 %, ratings 1 to 6 (positions 0, 1/6, ..., 5/6 on the 1-7 scale).
    finished(organisation, (1, 1), (2, 2))
    finished(organisation, (3, 3), (4, 4))
    finished(organisation, (5, 5), (6, 6))
    noise(organisation)

    data = norms_of(current(organisation))

    a, b = by_label(data, "A"), by_label(data, "B")
    # A: 35 % is above 10, 20 and 30 %: 3 of 6. Rated 4 (position 1/2): above 1, 2 and 3, level
    # with 4 (half): 3.5 of 6.
    assert a["happy_share"]["percentile"] == pytest.approx(100 * 3 / 6)
    assert a["rating"]["percentile"] == pytest.approx(100 * 3.5 / 6)
    # B: 60 % is above five and level with one: 5.5 of 6. Rated 7: above all six.
    assert b["happy_share"]["percentile"] == pytest.approx(100 * 5.5 / 6)
    assert b["rating"]["percentile"] == pytest.approx(100.0)
    # Medians: of 10..60 % is 35 %; of ratings 1..6 is 3.5.
    assert a["happy_share"]["median"] == pytest.approx(0.35)
    assert a["rating"]["median"] == pytest.approx(3.5)
    assert (a["rating"]["value"], a["rating"]["scale_min"], a["rating"]["scale_max"]) == (4, 1, 7)
    assert a["happy_share"]["sentence"] == (
        "A has a happy share of 35 %: percentile rank 50 among your organisation's 6 finished variants (median 35 %)."
    )
    assert a["rating"]["sentence"] == (
        "A has a mean rating of 4.0 (scale 1–7): percentile rank 58 among your organisation's 6 rated finished "
        "variants (median 3.5)."
    )
    assert a["happy_share"]["needed"] == 0 and data["earlier_campaigns"] == 3


@pytest.mark.django_db
def test_a_finished_campaign_counts_as_its_own_dashboard_does_at_this_threshold(organisation):
    """Its testers by its own minimum of analysed frames, calibrated values where current, at the
    threshold of the dashboard asking (0.5 here; the finished campaign's own is 0.8)."""
    faces = {"t1": ((2, 4), (1, 4)), "t2": ((3, 5), (0, 5)), "t3": ((5, 5), (1, 2))}  # t3: too few on B
    built = build_campaign(organisation, faces, {}, status=CLOSED, threshold=0.8, min_frames=3, happy_probability=0.6)
    model = active_model()
    calibration = dashboard_inputs(built.campaign)["calibration"]
    if calibration is not None:
        # t1's sad frames on B are happy at 0.95 on the current calibration.
        Prediction.objects.filter(tester=built.testers["t1"], variant=built.variants[1], top_class="sad").update(
            calibration_version=calibration.version,
            calibrated_probabilities={"happy": 0.95, "sad": 0.05},
            calibrated_top_class="happy",
            calibrated_top_probability=0.95,
        )
    asking = current(organisation)

    figures = earlier_figures(campaign=asking, model=model, calibration=calibration, threshold=0.5)

    own = dashboard_data(campaign=built.campaign, threshold=0.5)["variants"]
    own_shares = [next(c for c in row["classes"] if c["class_name"] == "happy")["tester_mean"]["mean"] for row in own]
    assert sorted(figures["happy"]) == pytest.approx(sorted(own_shares))
    # By hand: t3 is not counted; A = mean(2/4, 3/5); B = mean(1/4 or 4/4 calibrated, 0/5).
    b_share = (1.0 if calibration is not None else 0.25) / 2
    assert sorted(figures["happy"]) == pytest.approx(sorted([(0.5 + 0.6) / 2, b_share]))


@pytest.mark.django_db
def test_a_campaign_on_another_model_gives_its_ratings_but_not_its_happy_shares(organisation):
    finished(organisation, (1, 1), (2, 2))
    finished(organisation, (3, 3), (4, 4), model=unloadable_model("other"))

    data = norms_of(current(organisation))

    a = by_label(data, "A")
    assert (a["happy_share"]["earlier"], a["rating"]["earlier"]) == (2, 4)
    assert (data["earlier_campaigns"], data["other_model_campaigns"]) == (2, 1)
    assert data["notes"][-1] == (
        "1 finished campaign was analysed with another model: its happy shares are left out, its ratings count."
    )


@pytest.mark.django_db
def test_the_benchmark_reads_a_fixed_number_of_queries_however_many_finished_campaigns(organisation):
    asking = current(organisation)
    inputs = dashboard_inputs(asking)
    finished(organisation, (1, 1), (2, 2))
    counts = []
    for _round in range(2):
        with CaptureQueriesContext(connection) as queries:
            benchmark(campaign=asking, ratios=inputs["matrix"].ratios(), **inputs)
        counts.append(len(queries))
        for _campaign in range(4):
            finished(organisation, (1, 1), (2, 2), (3, 3))

    # The finished variants, their testers, the ratings, the happy cells (their predictions are not
    # yet recomputed with the default model's calibration, so after the sums one GROUP BY over them
    # all) and whether any of their frames wait for analysis. Stale shares are not kept.
    assert counts == [6, 6]


@pytest.mark.django_db
def test_a_finished_campaigns_shares_are_kept_until_a_tester_withdraws(organisation):
    asking = panel_campaign(organisation).campaign
    calibration = Calibration.objects.get(model_version=asking.model_version, is_active=True)
    for campaign in Campaign.objects.filter(organisation=organisation, status=CLOSED):
        make_current(campaign, calibration)
    inputs = {k: dashboard_inputs(asking)[k] for k in ("model", "calibration", "threshold")}
    first = earlier_figures(campaign=asking, **inputs)["happy"]

    with CaptureQueriesContext(connection) as queries:
        again = earlier_figures(campaign=asking, **inputs)["happy"]
    assert sorted(again) == sorted(first)  # earlier figures come in no particular order
    assert not [q for q in queries.captured_queries if "inference_" in q["sql"]]  # no prediction read

    closed = session_models.Tester.objects.filter(campaign__organisation=organisation, campaign__status=CLOSED)
    withdrawing = closed.first()
    tester_services.tester_withdraw(tester=withdrawing)
    after = earlier_figures(campaign=asking, **inputs)["happy"]
    assert sorted(after) != pytest.approx(sorted(first))


@pytest.mark.django_db
def test_finished_campaigns_count_on_the_calibrated_sums_as_on_every_prediction(organisation, monkeypatch):
    """Where PostgreSQL keeps the sums: the current campaigns from the sums and the confident frames'
    index, the one with stale predictions from all of them; the same figures as counting them all."""
    asking = panel_campaign(organisation).campaign
    calibration = Calibration.objects.get(model_version=asking.model_version, is_active=True)
    finished_ids = list(
        Campaign.objects.filter(organisation=organisation, status=CLOSED)
        .order_by("created_at")
        .values_list("pk", flat=True)
    )
    for campaign_id in finished_ids[:2]:  # the third keeps its stale predictions
        make_current(Campaign.objects.get(pk=campaign_id), calibration)
    inputs = dashboard_inputs(asking)

    with CaptureQueriesContext(connection) as queries:
        fast = earlier_figures(campaign=asking, **{k: inputs[k] for k in ("model", "calibration", "threshold")})
    cache.clear()  # the two current campaigns' shares were kept
    monkeypatch.setattr(counting, "sums_available", lambda: False)
    every = earlier_figures(campaign=asking, **{k: inputs[k] for k in ("model", "calibration", "threshold")})

    assert sorted(fast["happy"]) == pytest.approx(sorted(every["happy"]))
    assert sorted(fast["happy"]) == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])  # see panel_campaign
    sums, confident, stale = (query["sql"] for query in queries.captured_queries[2:5])
    assert "inference_calibratedsum" in sums
    assert '"calibrated_top_probability" >=' in confident and "happy" in confident
    assert "inference_prediction" in stale and str(finished_ids[2].hex) in stale.replace("-", "")


@pytest.mark.django_db
def test_csv_rows_give_each_variants_figures(organisation):
    for happy in (1, 3, 5):
        finished(organisation, (happy, happy), (happy + 1, happy + 1))
    asking = current(organisation)
    data = norms_of(asking)

    header, rows = norm_rows(campaign=asking, threshold=asking.confidence_threshold)
    rows = [dict(zip(header, row, strict=True)) for row in rows]

    assert [(row["variant"], row["figure"]) for row in rows] == [
        ("A", "happy_share"),
        ("A", "rating"),
        ("B", "happy_share"),
        ("B", "rating"),
    ]
    assert rows[0]["percentile"] == pytest.approx(by_label(data, "A")["happy_share"]["percentile"])
    assert (rows[1]["value"], rows[1]["earlier_variants"], rows[1]["more_needed"]) == (4, 6, 0)
