"""The marketer's verdict and the testers planner (dashboard.decision): plain functions."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from dashboard import decision, stats
from dashboard.decision import Verdict


def spread(n: int, mean: float, sd: float) -> np.ndarray:
    """n differences with exactly this mean and standard deviation (divided by n)."""
    if n == 1:
        return np.full(1, mean)
    z = np.linspace(-1.7, 1.7, n)
    return mean + sd * (z - z.mean()) / z.std()


def ever_named_winner(verdicts: np.ndarray) -> float:
    return float(np.isin(verdicts, (decision.A_LEADS, decision.B_LEADS)).any(axis=1).mean())


def test_null_campaigns_read_after_every_tester_rarely_name_a_winner_unlike_the_repeated_t_test():
    differences = np.random.default_rng(7).normal(0.0, 0.15, (400, 200))
    n, mean, variance = decision.running_moments(differences)

    live = decision.classify(n, *decision.always_valid_interval(n, mean, variance))
    naive = decision.classify(n, *decision.fixed_interval(n, mean, variance))
    once = naive[:, -1]

    assert ever_named_winner(live) <= 0.05
    assert ever_named_winner(naive) > 0.2  # the same bound would fail for the t test read at every look
    assert np.isin(once, (decision.A_LEADS, decision.B_LEADS)).mean() <= 0.1


def test_skewed_null_campaigns_stay_under_alpha():
    random = np.random.default_rng(11)
    # Same mean share (1/11) on both variants, but on A a few testers show the emotion throughout.
    differences = random.beta(0.2, 2.0, (400, 200)) - random.beta(1.0, 10.0, (400, 200))
    n, mean, variance = decision.running_moments(differences)

    assert ever_named_winner(decision.classify(n, *decision.always_valid_interval(n, mean, variance))) <= 0.06


def test_clear_difference_names_the_right_variant_with_its_lead_in_points():
    a_better = spread(40, 0.15, 0.10)

    a_result = decision.live_verdict(a_better)
    b_result = decision.live_verdict(-a_better)

    assert (a_result.verdict, a_result.leader, a_result.ahead) == (Verdict.A_LEADS, "a", "a")
    assert (b_result.verdict, b_result.leader, b_result.ahead) == (Verdict.B_LEADS, "b", "b")
    for result in (a_result, b_result):
        assert result.always_valid and result.reason == "excludes_zero"
        assert result.points == pytest.approx(15.0)
        assert 0 < result.points_low < 15 < result.points_high
        assert result.p_value < 0.05
        assert result.confidence == 0.95
    assert decision.final_verdict(-a_better).verdict == Verdict.B_LEADS


def test_a_winner_only_from_the_minimum_number_of_testers():
    huge_lead = spread(9, 0.3, 0.05)

    assert decision.live_verdict(huge_lead).verdict == Verdict.TOO_EARLY
    assert decision.live_verdict(huge_lead).p_value is None
    assert decision.final_verdict(huge_lead).verdict == Verdict.TOO_EARLY
    assert decision.final_verdict(spread(10, 0.3, 0.05)).verdict == Verdict.A_LEADS


@pytest.mark.parametrize("n", [1, 5, 12, 19])
def test_never_no_meaningful_difference_on_a_handful_of_testers(n):
    identical = np.zeros(n)  # both variants exactly alike for every tester

    for verdict in (decision.live_verdict, decision.final_verdict):
        assert verdict(identical).verdict != Verdict.NO_MEANINGFUL_DIFFERENCE
        assert verdict(spread(n, 0.0, 0.01)).verdict != Verdict.NO_MEANINGFUL_DIFFERENCE


def test_no_meaningful_difference_once_the_interval_fits_within_the_margin():
    result = decision.live_verdict(spread(150, 0.0, 0.15))

    assert result.verdict == Verdict.NO_MEANINGFUL_DIFFERENCE
    assert result.reason == "within_margin"
    assert -0.05 <= result.low < 0 < result.high <= 0.05
    assert result.leader is None


def test_undecided_and_too_early_when_the_interval_holds_zero():
    undecided = decision.live_verdict(spread(60, 0.03, 0.15))
    wide = decision.live_verdict(spread(19, 0.0, 0.02))

    assert (undecided.verdict, undecided.reason) == (Verdict.UNDECIDED, "includes_zero")
    assert undecided.ahead == "a" and undecided.leader is None
    assert undecided.points_low < 0 < undecided.points_high
    assert (wide.verdict, wide.reason) == (Verdict.TOO_EARLY, "interval_wide")


def test_always_valid_interval_is_wider_than_the_fixed_one_and_holds_it():
    differences = spread(80, 0.04, 0.15)

    live = decision.live_verdict(differences)
    fixed = decision.final_verdict(differences)

    assert live.estimate == pytest.approx(fixed.estimate)
    assert live.low < fixed.low < fixed.high < live.high


def test_live_p_value_is_below_alpha_exactly_when_the_interval_excludes_zero():
    random = np.random.default_rng(3)
    for _ in range(200):
        n = int(random.integers(10, 200))
        result = decision.live_verdict(random.normal(random.normal(0, 0.05), random.uniform(0.02, 0.3), n))
        excludes = result.low > 0 or result.high < 0
        assert (result.p_value <= 0.05) == excludes


def test_final_verdict_is_the_paired_t_interval_and_t_test():
    differences = np.random.default_rng(5).normal(0.03, 0.12, 37)

    result = decision.final_verdict(differences)
    interval = stats.t_interval(differences)

    assert (result.low, result.high) == pytest.approx((interval.low, interval.high))
    assert result.p_value == pytest.approx(scipy_stats.ttest_1samp(differences, 0).pvalue)
    assert not result.always_valid


def test_no_testers_gives_an_empty_too_early_result_that_serialises():
    result = decision.live_verdict([])

    assert result.verdict == Verdict.TOO_EARLY and result.n == 0 and result.estimate is None
    assert json.loads(json.dumps(result.as_dict()))["verdict"] == "too_early"
    assert json.dumps(decision.plan_testers().as_dict())


def test_missing_shares_are_refused_rather_than_read_as_a_verdict():
    with pytest.raises(ValueError, match="finite"):
        decision.live_verdict([0.1, np.nan, 0.2])


def test_pairwise_splits_alpha_over_every_pair_of_variants():
    random = np.random.default_rng(9)
    base = random.uniform(0.2, 0.6, 80)
    shares = np.column_stack([base, base + 0.15 + random.normal(0, 0.08, 80), base + random.normal(0, 0.08, 80)])
    shares[3, 1] = np.nan  # a tester without variant B's share counts in no pair

    pairs = decision.pairwise_verdicts(shares)

    assert [(pair.a, pair.b) for pair in pairs] == [(0, 1), (0, 2), (1, 2)]
    assert all(pair.decision.n == 79 for pair in pairs)
    assert all(pair.decision.confidence == pytest.approx(1 - 0.05 / 3) for pair in pairs)
    verdicts = {(pair.a, pair.b): pair.decision.verdict for pair in pairs}
    assert verdicts[(0, 1)] == Verdict.B_LEADS
    assert verdicts[(1, 2)] == Verdict.A_LEADS
    assert pairs[0].as_dict()["a"] == 0


def textbook_paired_t_testers(sd: float, difference: float, alpha: float = 0.05, power: float = 0.8) -> int:
    """n = (t_{1-alpha/2, n-1} + t_{power, n-1})^2 sd^2 / difference^2, iterated to the smallest n."""
    n = 2
    while (scipy_stats.t.ppf(1 - alpha / 2, n - 1) + scipy_stats.t.ppf(power, n - 1)) ** 2 * sd**2 / difference**2 > n:
        n += 1
    return n


def test_planner_matches_the_textbook_paired_t_formula():
    plan = decision.plan_testers(difference=0.05, sd=0.15)

    assert plan.fixed_testers == textbook_paired_t_testers(0.15, 0.05) == 73
    assert plan.fixed_invitations == math.ceil(73 / 0.6)
    assert (plan.sd_source, plan.rate_source, plan.counted_rate) == ("assumed", "assumed", 0.6)
    assert (plan.alpha, plan.power, plan.difference) == (0.05, 0.8, 0.05)
    for sd, difference in [(0.3, 0.05), (0.15, 0.1), (0.2, 0.03)]:
        fixed = decision.plan_testers(difference=difference, sd=sd).fixed_testers
        assert abs(fixed - textbook_paired_t_testers(sd, difference)) <= 1


def test_planner_always_valid_needs_more_testers_and_reaches_the_power():
    plan = decision.plan_testers()

    assert plan.fixed_testers < plan.always_valid_testers
    assert plan.inflation == pytest.approx(plan.always_valid_testers / plan.fixed_testers)
    assert plan.always_valid_basis == decision.ALWAYS_VALID_BASIS
    at_plan = decision.always_valid_power(plan.always_valid_testers, difference=0.05, sd=0.15)
    one_fewer = decision.always_valid_power(plan.always_valid_testers - 1, difference=0.05, sd=0.15)
    assert one_fewer < 0.8 <= at_plan


def test_planner_invitations_scale_with_the_counted_rate():
    assumed = decision.plan_testers(sd=0.15, counted_rate=0.6)
    half_as_many_count = decision.plan_testers(sd=0.15, counted_rate=0.3)

    assert half_as_many_count.fixed_testers == assumed.fixed_testers
    assert half_as_many_count.fixed_invitations == math.ceil(assumed.fixed_testers / 0.3)
    assert half_as_many_count.always_valid_invitations == math.ceil(assumed.always_valid_testers / 0.3)
    assert half_as_many_count.fixed_invitations > 1.9 * assumed.fixed_invitations


def test_planner_uses_observed_figures_once_there_are_enough():
    differences = np.random.default_rng(1).normal(0, 0.25, 30)

    observed = decision.plan_testers(differences=differences, counted=30, invited=100)
    too_few = decision.plan_testers(differences=differences[:5], counted=1, invited=4)

    assert (observed.sd_source, observed.sd) == ("observed", pytest.approx(differences.std(ddof=1)))
    assert (observed.rate_source, observed.counted_rate) == ("observed", 0.3)
    assert observed.more_fixed_testers == observed.fixed_testers - 30
    assert observed.more_fixed_invitations == math.ceil(observed.more_fixed_testers / 0.3)
    assert (too_few.sd_source, too_few.sd, too_few.rate_source) == ("assumed", 0.15, "assumed")
    assert decision.plan_testers(differences=np.zeros(20)).fixed_testers > 2  # identical so far: at the floor
