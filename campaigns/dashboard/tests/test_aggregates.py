"""Dashboard numbers on the fixed campaign of conftest.py, against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from scipy import stats as scipy_stats

from campaigns.dashboard import stats
from campaigns.dashboard.selectors import dashboard_data

from .conftest import HAPPY_FRAMES, RATINGS, add_frame

# t quantiles from a printed table: t(0.975, 5) and t(0.975, 6).
T_975_5 = 2.570582
T_975_6 = 2.446912


def variant(data, label):
    return next(v for v in data["variants"] if v["label"] == label)


def happy(row):
    return next(c for c in row["classes"] if c["class_name"] == "happy")


def comparison(data, class_name):
    return next(c for c in data["comparisons"] if c["class_name"] == class_name)


@pytest.mark.django_db
def test_progress_and_funnel_count_every_frame_but_not_the_withdrawn_tester(fixed):
    data = dashboard_data(campaign=fixed.campaign)

    # 3 invitations (t1's, one never opened, t9's withdrawn one); t9's tester row is gone, so
    # consented = t1..t8 and t10 = 9, completed = t1..t6 and t10 = 7.
    assert data["progress"] == {"invited": 3, "opened": 2, "withdrawn": 1, "consented": 9, "completed": 7}
    # received: 52 analysed frames of t1..t6 + t1's blurred one + t7's 8 faceless + t8's 5 = 66.
    # face found drops t7's 8; passing quality drops the blurred one; high confidence drops
    # t1's happy frame at p = 0.3.
    frames = data["frames"]
    assert (frames["received"], frames["face_found"], frames["passed_quality"], frames["high_confidence"]) == (
        66,
        58,
        57,
        56,
    )
    assert data["testers"] == {"included": 6, "excluded": 2}


@pytest.mark.django_db
def test_variant_ratios_count_confident_frames_of_included_testers_only(fixed):
    data = dashboard_data(campaign=fixed.campaign)

    a, b = variant(data, "A"), variant(data, "B")
    # Included testers' frames per variant: 4 + 4 + 4 + 5 + 5 + 4 = 26 on each side.
    assert a["frames"] == b["frames"] == 26
    assert (happy(a)["count"], happy(b)["count"]) == (2, 16)
    assert happy(a)["ratio"] == pytest.approx(2 / 26)
    assert happy(b)["ratio"] == pytest.approx(16 / 26)
    # Sad at 0.7 fills the rest; on B t1 has one sad (0.8), t2, t3, t5 one each, t4 four, t6 none.
    sad_b = next(c for c in b["classes"] if c["class_name"] == "sad")
    assert sad_b["count"] == 8


@pytest.mark.django_db
def test_per_tester_interval_is_a_t_interval_over_testers(fixed):
    data = dashboard_data(campaign=fixed.campaign)

    # Per-tester happy ratios on B: 1/4, 3/4, 3/4, 1/5, 4/5, 4/4.
    ratios_b = np.array([0.25, 0.75, 0.75, 0.2, 0.8, 1.0])
    mean = 3.75 / 6
    sd = math.sqrt(((ratios_b - mean) ** 2).sum() / 5)
    interval = happy(variant(data, "B"))["tester_mean"]
    assert interval["n"] == 6
    assert interval["mean"] == pytest.approx(mean)
    assert interval["low"] == pytest.approx(mean - T_975_5 * sd / math.sqrt(6), abs=1e-6)
    assert interval["high"] == pytest.approx(mean + T_975_5 * sd / math.sqrt(6), abs=1e-6)
    # On A the ratios are 0, 1/4, 0, 0, 1/5, 0: mean 0.075, and mean - t * s / sqrt(6) < 0 is
    # clipped to 0 because no ratio can be negative.
    ratios_a = np.array([0, 0.25, 0, 0, 0.2, 0])
    interval_a = happy(variant(data, "A"))["tester_mean"]
    assert interval_a["mean"] == pytest.approx(0.075)
    assert 0.075 - T_975_5 * ratios_a.std(ddof=1) / math.sqrt(6) < 0
    assert interval_a["low"] == 0
    assert interval_a["high"] == pytest.approx(0.075 + T_975_5 * ratios_a.std(ddof=1) / math.sqrt(6), abs=1e-6)


@pytest.mark.django_db
def test_paired_comparison_matches_hand_computation_and_says_who_leads(fixed):
    data = dashboard_data(campaign=fixed.campaign)

    result = comparison(data, "happy")
    # Differences B - A: 0.25, 0.50, 0.75, 0.20, 0.60, 1.00 -> mean 3.3 / 6 = 0.55;
    # squared deviations sum to 0.46, so s = sqrt(0.46 / 5) and the half-width is t * s / sqrt(6).
    half_width = T_975_5 * math.sqrt(0.46 / 5) / math.sqrt(6)
    assert result["n"] == 6
    assert result["mean_difference"] == pytest.approx(0.55)
    assert result["low"] == pytest.approx(0.55 - half_width, abs=1e-6)  # 0.2317
    assert result["high"] == pytest.approx(0.55 + half_width, abs=1e-6)  # 0.8683
    # All six differences are positive and distinct: exact Wilcoxon p = 2 * (1 / 2^6) = 0.03125.
    assert result["p_value"] == pytest.approx(2 / 64)
    assert result["clear"] is True
    assert result["verdict"] == (
        "B leads on happy by 55 points (95% CI 23 to 87); this difference is unlikely to be chance (p = 0.031)."
    )


@pytest.mark.django_db
def test_threshold_override_recomputes_without_storing(fixed):
    data = dashboard_data(campaign=fixed.campaign, threshold=0.2)

    # At 0.2 t1's happy frame at p = 0.3 on B counts too: 17 of 26.
    assert data["threshold"] == 0.2
    assert happy(variant(data, "B"))["count"] == 17
    fixed.campaign.refresh_from_db()
    assert fixed.campaign.confidence_threshold == 0.5


@pytest.mark.django_db
def test_order_effect_compares_first_and_second_seen(fixed):
    data = dashboard_data(campaign=fixed.campaign)

    order = data["order_effect"]
    # First seen: t1 A 0, t3 A 0, t5 A 1/5 (order A, B); t2 B 3/4, t4 B 1/5, t6 B 1 (order B, A).
    first = [0, 0, 0.2, 0.75, 0.2, 1.0]
    second = [0.25, 0.75, 0.8, 0.25, 0, 0]
    assert order["positions"][0]["mean"] == pytest.approx(sum(first) / 6)
    assert order["positions"][1]["mean"] == pytest.approx(sum(second) / 6)
    assert order["first_vs_second"]["mean_difference"] == pytest.approx((sum(second) - sum(first)) / 6)
    by_a = next(v for v in order["by_variant"] if v["label"] == "A")
    assert [p["n"] for p in by_a["positions"]] == [3, 3]


@pytest.mark.django_db
def test_survey_leaves_out_excluded_and_withdrawn_testers_but_keeps_survey_only_ones(fixed):
    data = dashboard_data(campaign=fixed.campaign)

    question = data["survey"]["questions"][0]
    a = next(v for v in question["variants"] if v["label"] == "A")
    # Ratings on A of t1..t6 (2, 3, 1, 2, 4, 1) and survey-only t10 (5): mean 18 / 7. t7's 7 and
    # the withdrawn t9's 7 are absent.
    ratings_a = np.array([2, 3, 1, 2, 4, 1, 5])
    assert a["n"] == 7
    assert a["mean"] == pytest.approx(18 / 7)
    half_width = T_975_6 * ratings_a.std(ddof=1) / math.sqrt(7)
    assert a["high"] == pytest.approx(18 / 7 + half_width, abs=1e-6)
    assert {d["rating"]: d["count"] for d in a["distribution"]} == {1: 2, 2: 2, 3: 1, 4: 1, 5: 1, 6: 0, 7: 0}
    assert sorted(c["comment"] for c in data["survey"]["comments"]) == ["No camera", "Too dark for me"]


@pytest.mark.django_db
def test_rating_correlates_with_the_testers_own_happy_ratio(fixed):
    data = dashboard_data(campaign=fixed.campaign)

    correlation = data["survey"]["questions"][0]["correlation"]
    # One point per included tester and variant (t10 has no happy ratio): 12 points.
    ratings, ratios = [], []
    for name, ((happy_a, n_a), (happy_b, n_b)) in HAPPY_FRAMES.items():
        ratings += list(RATINGS[name])
        ratios += [happy_a / n_a, happy_b / n_b]
    assert correlation["n"] == 12
    assert correlation["spearman_rho"] == pytest.approx(scipy_stats.spearmanr(ratings, ratios).statistic)
    assert correlation["pearson_r"] == pytest.approx(np.corrcoef(ratings, ratios)[0, 1])
    assert correlation["spearman_rho"] > 0.5


@pytest.mark.django_db
def test_dashboard_data_uses_a_fixed_number_of_queries(fixed):
    with CaptureQueriesContext(connection) as first:
        dashboard_data(campaign=fixed.campaign)
    for sequence in range(10, 15):
        add_frame(fixed.testers["t1"], fixed.a, sequence, "happy", 0.9)
    with CaptureQueriesContext(connection) as second:
        data = dashboard_data(campaign=fixed.campaign)
    # 13: one more than before the calibration work, the active calibration's row.
    assert len(second) == len(first) <= 13
    assert happy(variant(data, "A"))["count"] == 7


def test_paired_comparison_with_no_difference_at_all_is_not_clear():
    result = stats.paired_comparison(np.array([0.2, 0.4, 0.5]), np.array([0.2, 0.4, 0.5]))

    assert result.mean_difference == 0
    assert result.p_value == 1.0
    assert result.is_clear is False


def test_t_interval_of_a_single_value_has_no_bounds():
    assert stats.t_interval([0.4]).as_dict() == {"n": 1, "mean": 0.4, "low": None, "high": None}


def test_sentences_write_numbers_with_the_languages_decimal_mark():
    from django.utils import translation

    from campaigns.dashboard.wording import counting_quality_sentence

    figures = {"recall": 0.11, "precision": 0.75, "enough_counted": True, "counted": 40}
    with translation.override("en"):
        assert counting_quality_sentence("sad", figures, 0.8).startswith("At 0.8, ")
    with translation.override("de"):
        german = counting_quality_sentence("sad", figures, 0.8)
    assert german.startswith("Bei 0,8") and "0.8" not in german
