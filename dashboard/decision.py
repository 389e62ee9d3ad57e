"""The marketer's decision between ad variants: who leads, can we stop testing, how many testers?

Pure numpy/scipy, no Django, so every rule is testable alone and the benchmark (`python -m
bench.peeking`) replays the very functions the dashboard calls.

Input. One number per counted tester: d_i = the tester's share of an emotion on variant A minus the
same tester's share on variant B (within-subject, so the pairing removes each person's baseline).
Shares lie in [0, 1], so d_i lies in [-1, 1]; positive means A shows more of the emotion. The order
of the testers does not matter: every function reads the testers counted so far.

API. Results are frozen dataclasses with `as_dict()` for JSON. There are no UI strings here: the
sentence and its translation belong to wording.py; everything it needs is in the result.

- `live_verdict(differences, rules=RULES) -> Decision`: the always-valid verdict for a running
  campaign. It may be read after every tester, as often as anyone likes: with no true difference a
  winner is named at any look in at most about alpha (5 %) of campaigns (see the caveat below).
- `final_verdict(differences, rules=RULES) -> Decision`: the fixed-sample paired t analysis for a
  closed campaign, valid for one look at a number of testers fixed in advance (the planner's), not
  for peeking.
- `pairwise_verdicts(shares, method="live" | "final", rules=RULES) -> list[PairDecision]`: every pair
  a < b of 2+ variants from a testers x variants array of one emotion's shares (rows with a NaN are
  left out), d = shares[:, a] - shares[:, b], alpha split over the pairs (Bonferroni).
- `plan_testers(...) -> Plan`: counted testers and invitations needed to detect a difference, for the
  fixed-sample test and for the always-valid verdict, with the assumptions used and their sources.
- `Rules`: every threshold in one frozen object (`RULES`: the defaults); pass the same one to the
  verdicts and the planner. Its values must be chosen before the data are seen.
- Vectorised core for simulations: `running_moments`, `always_valid_interval`, `fixed_interval`,
  `classify` (codes index `VERDICTS` and `REASONS`).

`Decision` fields: `method` ("always_valid" | "fixed_sample"), `verdict` (a `Verdict`), `reason` (a
`REASONS` code: why this verdict), `n`, `estimate` (mean d, a fraction of share), `low`/`high` (the
interval, clipped to [-1, 1]), `confidence` (1 - alpha), `p_value` (always-valid for the live verdict,
the t test's for the final one; None below `min_testers`), `ahead` ("a" | "b" | None, on the estimate
alone), `leader` (only with a winner named), `points`/`points_low`/`points_high` (the ahead variant's
lead and its interval in percentage points; the low end is negative while the interval holds 0),
`margin`, `sd` (the standard deviation behind the interval).

Verdicts, the same vocabulary for both methods:
- "too_early": fewer than `min_testers` (10) counted testers, or no winner yet and the interval's
  half-width is still above `too_wide` (10 points);
- "a_leads" / "b_leads": the interval excludes 0;
- "no_meaningful_difference": the whole interval lies within ±`margin` (5 points) and there are at
  least `min_testers_equivalence` (20) testers: never on a handful of testers;
- "undecided": otherwise (the interval holds 0 and differences beyond the margin).

Always-valid interval (a confidence sequence): Robbins' normal mixture, the boundary behind the
mixture SPRT (Johari et al., Optimizely) and the asymptotic confidence sequences of Waudby-Smith et
al. and Howard et al. 2021 (Eppo, GrowthBook). With sigma the standard deviation of d,

    |mean_n - theta| <= sigma g(n),  g(n)^2 = 2 (1 + n rho^2) / (n^2 rho^2) log(sqrt(1 + n rho^2) / alpha)

for all n at once with probability >= 1 - alpha. rho^2 = (-2 log alpha + log(1 - 2 log alpha)) /
`planned_testers` makes the interval narrowest near 100 testers. sigma is unknown, and plugging in
the sample variance is what makes such sequences only asymptotically valid: with few testers, or
skewed shares (on A most testers barely smile and a few laugh throughout), a sample that has not met
the tail yet has both a shifted mean and too small a variance, and names a false winner (about 9 %
of skewed null campaigns with the plain plug-in in development runs). Three guards:
- the sample variance v (divided by n) is shrunk towards `prior_sd`^2 (0.25^2, wider than typical
  differences, about what lopsided ones show) with the weight of `prior_testers` (10) testers:
  (10 * 0.0625 + n v) / (10 + n);
- the variance is taken around the tested value theta (self-normalised, as in de la Pena's
  mixture): sigma(theta)^2 = v' + (mean - theta)^2. Solved for theta, the half-width is
  g sqrt(v' / (1 - g^2)), unbounded while g >= 1 (the first 13 testers at the defaults);
- sigma is at least `sd_floor` (0.10), so identical early differences (all 0 for a rare emotion)
  cannot collapse the interval.
bench/peeking.py measures the result: read after every one of 500 testers, it named a false winner
in 1.1 % (normal differences) and 2.3 % (skewed bounded differences) of null campaigns, against 41-46 %
for the t test read after every tester; over 2,000 testers 2.2 % and 2.8 %. With lopsided
differences (on A nine testers in ten show nothing, the tenth nearly only that emotion, as rare
emotions do) 3.9 % over 500 and 4.6 % over 2,000 testers: it remains an approximation, not a
guarantee, for shapes more extreme than that. The price: at a true difference of 5 points (SD 0.15)
the median campaign needs 96 testers to name the winner, where the t test read once needs 73 for
80 % power; at 10 points, 39 against 20.

Fixed-sample analysis: the paired t interval mean ± t(1 - alpha/2, n - 1) s / sqrt(n) (stats.t_interval)
and the t test's p-value, with the same verdict rules.

Planner. Fixed sample: the smallest n at which the two-sided paired t test has the requested power,
from the noncentral t distribution (the textbook (t_{1-alpha/2, n-1} + t_{power, n-1})^2 sd^2 / delta^2
agrees within a tester). Always-valid: no inflation factor is assumed; it is the smallest n at which
the live verdict, read once at n with the SD known, names the true winner with the requested power,
Phi(sqrt(n) (delta - h(n)) / sd) >= power, h(n) the live verdict's threshold with all its guards.
Earlier looks only add detections, so this is an upper bound for a campaign read after every
tester (`ALWAYS_VALID_BASIS`); it comes out near twice the fixed-sample figure, and the benchmark
reports the simulated share of campaigns named by then. Invitations = ceil(testers / counted rate).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any, Literal

import numpy as np
from scipy import stats

ASSUMED_SD = 0.15  # per-tester differences of happy share in typical campaigns
ASSUMED_COUNTED_RATE = 0.6
DETECT = 0.05  # 5 percentage points
POWER = 0.8
MIN_OBSERVED = 10  # testers (for the SD) or invitations (for the rate) before observed figures replace assumptions
ALWAYS_VALID_BASIS = "single_look_upper_bound"


@dataclass(frozen=True)
class Rules:
    alpha: float = 0.05
    margin: float = 0.05  # differences smaller than 5 points of share do not matter to a marketer
    min_testers: int = 10
    min_testers_equivalence: int = 20
    too_wide: float = 0.10  # interval half-width above which the evidence is thin
    planned_testers: int = 100  # where the always-valid interval is narrowest
    sd_floor: float = 0.10
    prior_sd: float = 0.25
    prior_testers: float = 10.0


RULES = Rules()


class Verdict(StrEnum):
    TOO_EARLY = "too_early"
    A_LEADS = "a_leads"
    B_LEADS = "b_leads"
    NO_MEANINGFUL_DIFFERENCE = "no_meaningful_difference"
    UNDECIDED = "undecided"


VERDICTS = tuple(Verdict)  # `classify` returns indices into this
TOO_EARLY, A_LEADS, B_LEADS, NO_MEANINGFUL_DIFFERENCE, UNDECIDED = range(len(VERDICTS))
REASONS = ("few_testers", "interval_wide", "excludes_zero", "within_margin", "includes_zero")
FEW_TESTERS, INTERVAL_WIDE, EXCLUDES_ZERO, WITHIN_MARGIN, INCLUDES_ZERO = range(len(REASONS))

Method = Literal["always_valid", "fixed_sample"]
Side = Literal["a", "b"]


@dataclass(frozen=True)
class Decision:
    method: Method
    verdict: Verdict
    reason: str
    n: int
    estimate: float | None
    low: float | None
    high: float | None
    confidence: float
    p_value: float | None
    ahead: Side | None
    leader: Side | None
    points: float | None
    points_low: float | None
    points_high: float | None
    margin: float
    sd: float | None

    @property
    def always_valid(self) -> bool:
        return self.method == "always_valid"

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": str(self.verdict), "always_valid": self.always_valid}


@dataclass(frozen=True)
class PairDecision:
    a: int  # column indices into `shares`
    b: int
    decision: Decision

    def as_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, **self.decision.as_dict()}


@dataclass(frozen=True)
class Plan:
    difference: float  # the difference to detect, a fraction of share
    alpha: float
    power: float
    sd: float
    sd_source: Literal["observed", "assumed"]
    counted_rate: float
    rate_source: Literal["observed", "assumed"]
    fixed_testers: int
    fixed_invitations: int
    always_valid_testers: int
    always_valid_invitations: int
    inflation: float  # always_valid_testers / fixed_testers
    always_valid_basis: str  # ALWAYS_VALID_BASIS
    counted: int | None  # testers counted so far, when given
    more_fixed_testers: int | None
    more_fixed_invitations: int | None
    more_always_valid_testers: int | None
    more_always_valid_invitations: int | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- vectorised core -------------------------------------------------------------------------


def running_moments(differences: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count, mean and variance (divided by n) after each tester, along the last axis."""
    values = np.asarray(differences, dtype=float)
    n = np.arange(1, values.shape[-1] + 1, dtype=float)
    mean = np.cumsum(values, axis=-1) / n
    variance = np.maximum(np.cumsum(values * values, axis=-1) / n - mean * mean, 0.0)
    return np.broadcast_to(n, values.shape), mean, variance


def mixing_rho2(rules: Rules = RULES) -> float:
    """The normal mixture's tuning that makes the interval narrowest near `planned_testers`."""
    log_alpha = math.log(rules.alpha)
    return (-2 * log_alpha + math.log(1 - 2 * log_alpha)) / rules.planned_testers


def mixture_boundary(n: np.ndarray | float, rules: Rules = RULES) -> np.ndarray:
    """g(n): the always-valid half-width per unit standard deviation (inf below one tester)."""
    count = np.asarray(n, dtype=float)
    rho2 = mixing_rho2(rules)
    with np.errstate(divide="ignore", invalid="ignore"):
        squared = 2 * (1 + count * rho2) / (count * count * rho2) * np.log(np.sqrt(1 + count * rho2) / rules.alpha)
    return np.where(count >= 1, np.sqrt(squared), np.inf)


def shrunk_variance(n: np.ndarray | float, variance: np.ndarray | float, rules: Rules = RULES) -> np.ndarray:
    """The sample variance pulled towards prior_sd^2 with the weight of prior_testers testers."""
    count = np.asarray(n, dtype=float)
    prior = rules.prior_testers * rules.prior_sd**2
    return (prior + count * np.asarray(variance, dtype=float)) / (rules.prior_testers + count)


def always_valid_half_width(n: np.ndarray, variance: np.ndarray, rules: Rules = RULES) -> np.ndarray:
    """Half-width of {theta : |mean - theta| <= g max(sd_floor, sqrt(v' + (mean - theta)^2))}, v' the
    shrunk variance: the larger of g sd_floor and g sqrt(v' / (1 - g^2)), unbounded while g >= 1."""
    g = mixture_boundary(n, rules)
    with np.errstate(divide="ignore", invalid="ignore"):
        self_normalised = g * np.sqrt(shrunk_variance(n, variance, rules) / (1 - g * g))
    return np.where(g < 1, np.maximum(g * rules.sd_floor, self_normalised), np.inf)


def always_valid_interval(
    n: np.ndarray, mean: np.ndarray, variance: np.ndarray, rules: Rules = RULES
) -> tuple[np.ndarray, np.ndarray]:
    """The confidence sequence at each look, clipped to [-1, 1]; `variance` divided by n."""
    half = always_valid_half_width(n, variance, rules)
    return np.clip(mean - half, -1.0, 1.0), np.clip(mean + half, -1.0, 1.0)


def fixed_interval(
    n: np.ndarray, mean: np.ndarray, variance: np.ndarray, rules: Rules = RULES
) -> tuple[np.ndarray, np.ndarray]:
    """The paired t interval at each look (unbounded below 2 testers); `variance` divided by n."""
    count = np.asarray(n, dtype=float)
    # One quantile per tester count, looked up: scipy's t.ppf per element would dominate a simulation.
    counts = np.maximum(count, 1).astype(np.int64)
    quantiles = np.full(int(counts.max(initial=1)) + 1, np.inf)
    quantiles[2:] = stats.t.ppf(1 - rules.alpha / 2, np.arange(1, quantiles.size - 1))
    with np.errstate(divide="ignore", invalid="ignore"):
        sd = np.sqrt(np.asarray(variance, dtype=float) * count / (count - 1))
        half = quantiles[counts] * sd / np.sqrt(count)
    half = np.where(count >= 2, half, np.inf)
    return np.clip(mean - half, -1.0, 1.0), np.clip(mean + half, -1.0, 1.0)


def classify(
    n: np.ndarray, low: np.ndarray, high: np.ndarray, rules: Rules = RULES, *, with_reasons: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Verdict codes (indices into VERDICTS) per look, and with `with_reasons` the REASONS codes."""
    n, low, high = np.broadcast_arrays(np.asarray(n, dtype=float), np.asarray(low), np.asarray(high))
    enough = n >= rules.min_testers
    margin = rules.margin
    conditions = [
        ~enough,
        low > 0,
        high < 0,
        (n >= rules.min_testers_equivalence) & (low >= -margin) & (high <= margin),
        (high - low) / 2 > rules.too_wide,
    ]
    verdicts = np.select(conditions, [TOO_EARLY, A_LEADS, B_LEADS, NO_MEANINGFUL_DIFFERENCE, TOO_EARLY], UNDECIDED)
    if not with_reasons:
        return verdicts
    reasons = np.select(
        conditions, [FEW_TESTERS, EXCLUDES_ZERO, EXCLUDES_ZERO, WITHIN_MARGIN, INTERVAL_WIDE], INCLUDES_ZERO
    )
    return verdicts, reasons


# --- one comparison --------------------------------------------------------------------------


def _clean(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _moments(differences: np.ndarray | list[float]) -> tuple[int, float, float] | None:
    values = np.asarray(differences, dtype=float).ravel()
    if not np.isfinite(values).all():
        raise ValueError("differences must be finite: leave out testers without a share on both variants")
    if values.size == 0:
        return None
    mean = float(values.mean())
    return int(values.size), mean, float(np.mean((values - mean) ** 2))


def _empty(method: Method, rules: Rules) -> Decision:
    unknown = dict.fromkeys(("estimate", "low", "high", "p_value", "ahead", "leader", "sd"))
    points = dict.fromkeys(("points", "points_low", "points_high"))
    return Decision(
        method, Verdict.TOO_EARLY, REASONS[FEW_TESTERS], 0, confidence=1 - rules.alpha, margin=rules.margin,
        **unknown, **points,
    )  # fmt: skip


def _decision(
    method: Method,
    rules: Rules,
    *,
    n: int,
    estimate: float,
    low: float,
    high: float,
    p_value: float | None,
    sd: float | None,
) -> Decision:
    verdict_code, reason_code = classify(n, low, high, rules, with_reasons=True)
    verdict = VERDICTS[int(verdict_code)]
    ahead: Side | None = "a" if estimate > 0 else "b" if estimate < 0 else None
    sign = -1 if ahead == "b" else 1
    lead_low, lead_high = sorted((sign * low, sign * high))
    leader: Side | None = {Verdict.A_LEADS: "a", Verdict.B_LEADS: "b"}.get(verdict)
    return Decision(
        method=method,
        verdict=verdict,
        reason=REASONS[int(reason_code)],
        n=n,
        estimate=estimate,
        low=low,
        high=high,
        confidence=1 - rules.alpha,
        # Below the minimum a small p would only tempt someone to stop early.
        p_value=_clean(p_value) if n >= rules.min_testers else None,
        ahead=ahead,
        leader=leader,
        points=100 * abs(estimate),
        points_low=100 * lead_low,
        points_high=100 * lead_high,
        margin=rules.margin,
        sd=_clean(sd),
    )


def live_verdict(differences: np.ndarray | list[float], rules: Rules = RULES) -> Decision:
    """The always-valid verdict on the per-tester differences A - B counted so far."""
    moments = _moments(differences)
    if moments is None:
        return _empty("always_valid", rules)
    n, mean, variance = moments
    low, high = always_valid_interval(np.float64(n), mean, variance, rules)
    # Always-valid p-value: 1 / the mixture's likelihood ratio against "no difference", with the
    # variance taken around 0 as the interval takes it, so p <= alpha exactly when 0 is outside.
    shrunk = float(shrunk_variance(n, variance, rules))
    sd_at_zero = max(rules.sd_floor, math.sqrt(shrunk + mean * mean))
    rho2 = mixing_rho2(rules)
    log_ratio = n * n * rho2 * mean * mean / (2 * sd_at_zero**2 * (1 + n * rho2)) - 0.5 * math.log1p(n * rho2)
    return _decision(
        "always_valid",
        rules,
        n=n,
        estimate=mean,
        low=float(low),
        high=float(high),
        p_value=min(1.0, math.exp(-log_ratio)),
        sd=max(rules.sd_floor, math.sqrt(shrunk)),
    )


def final_verdict(differences: np.ndarray | list[float], rules: Rules = RULES) -> Decision:
    """The fixed-sample paired t analysis of a closed campaign: one look, at a size fixed in advance."""
    moments = _moments(differences)
    if moments is None:
        return _empty("fixed_sample", rules)
    n, mean, variance = moments
    low, high = fixed_interval(np.float64(n), mean, variance, rules)
    sd = math.sqrt(variance * n / (n - 1)) if n >= 2 else None
    if sd is None:
        p_value = None
    elif sd == 0:  # every tester differs by the same amount, where scipy would answer nan
        p_value = 1.0 if mean == 0 else 0.0
    else:
        p_value = float(2 * stats.t.sf(abs(mean) / (sd / math.sqrt(n)), n - 1))
    return _decision(
        "fixed_sample", rules, n=n, estimate=mean, low=float(low), high=float(high), p_value=p_value, sd=sd
    )


def pairwise_verdicts(
    shares: np.ndarray, *, method: Literal["live", "final"] = "live", rules: Rules = RULES
) -> list[PairDecision]:
    """Every pair a < b of the variants (columns) in `shares`, testers x variants. Each pair gets
    alpha / pairs, so the chance of any false winner among all the pairs stays below alpha."""
    matrix = np.asarray(shares, dtype=float)
    matrix = matrix[~np.isnan(matrix).any(axis=1)]
    pairs = [(a, b) for a in range(matrix.shape[1]) for b in range(a + 1, matrix.shape[1])]
    per_pair = replace(rules, alpha=rules.alpha / max(1, len(pairs)))
    verdict = live_verdict if method == "live" else final_verdict
    return [PairDecision(a, b, verdict(matrix[:, a] - matrix[:, b], per_pair)) for a, b in pairs]


# --- planner ---------------------------------------------------------------------------------


def fixed_power(n: np.ndarray | int, *, difference: float, sd: float, alpha: float = RULES.alpha) -> np.ndarray:
    """Power of the two-sided paired t test with n testers (noncentral t)."""
    count = np.asarray(n, dtype=float)
    df = count - 1
    critical = stats.t.ppf(1 - alpha / 2, df)
    shift = difference / sd * np.sqrt(count)
    return stats.nct.sf(critical, df, shift) + stats.nct.cdf(-critical, df, shift)


def always_valid_power(n: np.ndarray | int, *, difference: float, sd: float, rules: Rules = RULES) -> np.ndarray:
    """Chance that the live verdict names the true winner when read once, after n testers, with the
    SD known (the variance around 0 is then sd^2, shrunk, and the estimate's spread sd / sqrt(n))."""
    count = np.asarray(n, dtype=float)
    threshold = always_valid_half_width(count, sd * sd, rules)
    with np.errstate(invalid="ignore"):
        chance = stats.norm.cdf(np.sqrt(count) * (difference - threshold) / sd)
    return np.where(np.isfinite(threshold) & (count >= rules.min_testers), chance, 0.0)


def _smallest(reaches: Any, start: int, block: int | None = None) -> int:
    """The smallest n >= start where reaches(candidates) holds, searched in blocks (`block` testers
    first, doubling; by default start + 256)."""
    size = start + 256 if block is None else block
    while True:
        candidates = np.arange(start, start + size)
        hits = np.flatnonzero(reaches(candidates))
        if hits.size:
            return int(candidates[hits[0]])
        start, size = int(candidates[-1]) + 1, 2 * size


def fixed_testers(*, difference: float, sd: float, alpha: float = RULES.alpha, power: float = POWER) -> int:
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    below = max(2, math.ceil((z * sd / difference) ** 2) - 2)  # the normal approximation, a little under
    # The answer lies a tester or two above it: small blocks spare scipy's slow noncentral t (the
    # dashboard plans every emotion on every refresh).
    return _smallest(lambda n: fixed_power(n, difference=difference, sd=sd, alpha=alpha) >= power, below, block=8)


def always_valid_testers(*, difference: float, sd: float, power: float = POWER, rules: Rules = RULES) -> int:
    return _smallest(
        lambda n: always_valid_power(n, difference=difference, sd=sd, rules=rules) >= power, rules.min_testers
    )


def plan_testers(
    *,
    difference: float = DETECT,
    differences: np.ndarray | list[float] | None = None,
    sd: float | None = None,
    counted: int | None = None,
    invited: int | None = None,
    counted_rate: float | None = None,
    power: float = POWER,
    rules: Rules = RULES,
) -> Plan:
    """Counted testers and invitations needed to detect `difference` (A - B, either sign) with `power`.

    The SD of the per-tester differences: `sd` when given, else observed from `differences` once
    there are MIN_OBSERVED of them, else ASSUMED_SD. The counted rate: `counted_rate` when given,
    else counted / invited once MIN_OBSERVED invitations went out and someone counted, else
    ASSUMED_COUNTED_RATE. With `counted` (testers counted so far) it also says how many more."""
    if difference <= 0 or not 0 < power < 1:
        raise ValueError("difference must be positive and power between 0 and 1")
    observed = np.asarray([] if differences is None else differences, dtype=float).ravel()
    sd_source: Literal["observed", "assumed"] = "assumed"
    if sd is None and observed.size >= MIN_OBSERVED:
        sd, sd_source = float(observed.std(ddof=1)), "observed"
    sd = ASSUMED_SD if sd is None else float(sd)
    if sd < 0:
        raise ValueError("sd must not be negative")
    if sd == 0:  # identical differences so far: plan at the floor rather than for no testers at all
        sd = rules.sd_floor
    rate_source: Literal["observed", "assumed"] = "assumed"
    if counted_rate is None and counted and invited is not None and invited >= MIN_OBSERVED:
        counted_rate, rate_source = min(1.0, counted / invited), "observed"
    rate = float(ASSUMED_COUNTED_RATE if counted_rate is None else counted_rate)
    if not 0 < rate <= 1:
        raise ValueError("counted_rate must be in (0, 1]")

    fixed = fixed_testers(difference=difference, sd=sd, alpha=rules.alpha, power=power)
    live = always_valid_testers(difference=difference, sd=sd, power=power, rules=rules)

    def invitations(testers: int) -> int:
        return math.ceil(round(testers / rate, 9))

    def more(testers: int) -> tuple[int | None, int | None]:
        if counted is None:
            return None, None
        missing = max(0, testers - counted)
        return missing, invitations(missing)

    more_fixed, more_fixed_invitations = more(fixed)
    more_live, more_live_invitations = more(live)
    return Plan(
        difference=float(difference),
        alpha=rules.alpha,
        power=power,
        sd=sd,
        sd_source=sd_source,
        counted_rate=rate,
        rate_source=rate_source,
        fixed_testers=fixed,
        fixed_invitations=invitations(fixed),
        always_valid_testers=live,
        always_valid_invitations=invitations(live),
        inflation=live / fixed,
        always_valid_basis=ALWAYS_VALID_BASIS,
        counted=counted,
        more_fixed_testers=more_fixed,
        more_fixed_invitations=more_fixed_invitations,
        more_always_valid_testers=more_live,
        more_always_valid_invitations=more_live_invitations,
    )
