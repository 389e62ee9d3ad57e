"""Pure statistics on small per-tester arrays. No Django here, so every formula is testable alone.

The unit of analysis is the tester, never the frame: frames of one person are strongly correlated,
so treating 300 frames as 300 observations would make every interval far too narrow.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
# p below this and an interval that excludes zero: we call a difference "unlikely to be chance".
ALPHA = 0.05


@dataclass(frozen=True)
class Interval:
    """A mean with its two-sided t interval. low/high are None below two observations."""

    n: int
    mean: float | None
    low: float | None
    high: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


@dataclass(frozen=True)
class PairedResult:
    """Mean of per-tester differences (b - a), its t interval, and a Wilcoxon signed-rank p-value."""

    n: int
    mean_difference: float | None
    low: float | None
    high: float | None
    p_value: float | None

    @property
    def is_clear(self) -> bool:
        # Both the test and the interval must agree before we tell anyone a variant leads.
        if self.p_value is None or self.low is None or self.high is None:
            return False
        return self.p_value < ALPHA and (self.low > 0 or self.high < 0)

    def as_dict(self) -> dict[str, float | int | bool | None]:
        return {**asdict(self), "clear": self.is_clear, "test": "wilcoxon signed-rank"}


def _clean(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def t_interval(
    values: np.ndarray | list[float], confidence: float = CONFIDENCE, bounds: tuple[float, float] | None = None
) -> Interval:
    """mean ± t(1 - alpha/2, n - 1) · s / sqrt(n), with s the sample standard deviation.
    `bounds` clips the interval to what the quantity can be (a ratio is never below 0 %)."""
    array = np.asarray(values, dtype=float)
    n = int(array.size)
    if n == 0:
        return Interval(0, None, None, None)
    mean = float(array.mean())
    if n < 2:
        return Interval(n, mean, None, None)
    half_width = t_quantile(0.5 + confidence / 2, n - 1) * array.std(ddof=1) / math.sqrt(n)
    low, high = float(mean - half_width), float(mean + half_width)
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return Interval(n, mean, low, high)


@functools.lru_cache(maxsize=4096)
def t_quantile(probability: float, degrees_of_freedom: int) -> float:
    """Student's t quantile; scipy's ppf costs a quarter of a millisecond, and a dashboard asks for
    the same few dozen each time."""
    return float(stats.t.ppf(probability, degrees_of_freedom))


def wilcoxon_p(differences: np.ndarray) -> float | None:
    """Two-sided Wilcoxon signed-rank p-value; 1.0 when no tester differs at all (scipy refuses)."""
    if differences.size == 0:
        return None
    if not np.any(differences != 0):
        return 1.0
    return _clean(stats.wilcoxon(differences, zero_method="wilcox", alternative="two-sided").pvalue)


def paired_comparison(a: np.ndarray, b: np.ndarray, confidence: float = CONFIDENCE) -> PairedResult:
    """Compare the same testers under two variants: differences b - a per tester."""
    differences = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    interval = t_interval(differences, confidence)
    p_value = wilcoxon_p(differences) if differences.size >= 2 else None
    return PairedResult(interval.n, interval.mean, interval.low, interval.high, p_value)


def correlation(x: np.ndarray | list[float], y: np.ndarray | list[float]) -> dict[str, float | int | None]:
    """Spearman (ranks; ratings are ordinal) and Pearson, each with its p-value; None where undefined."""
    x_array = np.asarray(x, dtype=float)
    y_array = np.asarray(y, dtype=float)
    n = int(x_array.size)
    empty = {"n": n, "spearman_rho": None, "spearman_p": None, "pearson_r": None, "pearson_p": None}
    # A constant column has no correlation to speak of; scipy would warn and return nan.
    if n < 3 or np.ptp(x_array) == 0 or np.ptp(y_array) == 0:
        return empty
    spearman = stats.spearmanr(x_array, y_array)
    pearson = stats.pearsonr(x_array, y_array)
    return {
        "n": n,
        "spearman_rho": _clean(spearman.statistic),
        "spearman_p": _clean(spearman.pvalue),
        "pearson_r": _clean(pearson.statistic),
        "pearson_p": _clean(pearson.pvalue),
    }


def safe_ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """Elementwise numerator / denominator, 0 where the denominator is 0 (callers exclude those)."""
    numerator = np.asarray(numerator, dtype=float)
    denominator = np.asarray(denominator, dtype=float)
    out = np.zeros(np.broadcast(numerator, denominator).shape)
    np.divide(numerator, denominator, out=out, where=denominator > 0)
    return out
