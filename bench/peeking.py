"""Benchmark: does the live verdict stay honest when a marketer looks after every tester?

    python -m bench.peeking [--campaigns 20000] [--max-testers 500] [--seed 0]

Replays simulated campaigns tester by tester through the dashboard's own functions
(dashboard.decision) and prints one JSON object:

- "null": campaigns with no true difference. For each, whether a winner was ever named when the
  verdict is read after every tester: the live (always-valid) verdict, which must stay at or under
  alpha = 5 % ("live_within_alpha"), beside the fixed-sample t test read after every tester (the
  naive dashboard, far above 5 %) and the t test read once, after the last tester (about 5 %). Also
  how often and how soon the live verdict settles on "no meaningful difference".
- "stress": the same for differences more lopsided than campaigns usually show, outside that check.
- "difference": campaigns where A truly leads by 5 or 10 points. Testers until the live verdict
  first names A (median and 80th percentile over all campaigns; null where fewer than half or 80 %
  got there within --max-testers), how often it named B at any look, and the planner's figures for
  the scenario's true SD beside the simulated power at those sizes.

Per-tester differences A - B:
- "normal": N(delta, 0.15) clipped to [-1, 1];
- "skewed": Beta(0.2, b) - Beta(1, 10), both shares averaging 1/11 (plus delta for A): on A most
  testers barely show the emotion and a few show it throughout, a long tail bounded by 1;
- "lopsided" (stress): Beta(0.1, 0.9) - Beta(1, 9), both averaging 0.1: on A nine testers in ten show
  nothing and the tenth nearly only that emotion.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict
from typing import Any

import numpy as np

from dashboard import decision

CHUNK = 2000  # campaigns per block: keeps a block's arrays near 8 MB each
SD = 0.15
# kind: (first shape of A's Beta, B's Beta); A's second shape sets its mean to B's plus delta.
BETA_KINDS = {"skewed": (0.2, (1.0, 10.0)), "lopsided": (0.1, (1.0, 9.0))}
DIFFERENCES = (0.05, 0.10)
WINNERS = (decision.A_LEADS, decision.B_LEADS)


def _betas(kind: str, difference: float) -> tuple[tuple[float, float], tuple[float, float]]:
    a_shape, b_shapes = BETA_KINDS[kind]
    mean = b_shapes[0] / sum(b_shapes) + difference
    return (a_shape, a_shape * (1 - mean) / mean), b_shapes


def _beta_variance(a: float, b: float) -> float:
    return a * b / ((a + b) ** 2 * (a + b + 1))


def true_sd(kind: str, difference: float) -> float:
    if kind == "normal":
        return SD
    return math.sqrt(sum(_beta_variance(*shapes) for shapes in _betas(kind, difference)))


def draw(kind: str, difference: float, random: np.random.Generator, campaigns: int, testers: int) -> np.ndarray:
    shape = (campaigns, testers)
    if kind == "normal":
        return np.clip(random.normal(difference, SD, shape), -1.0, 1.0)
    a_shapes, b_shapes = _betas(kind, difference)
    return random.beta(*a_shapes, shape) - random.beta(*b_shapes, shape)


def _first(hits: np.ndarray) -> np.ndarray:
    """Testers until the first hit per campaign; inf where none."""
    return np.where(hits.any(axis=1), hits.argmax(axis=1) + 1.0, np.inf)


def replay(
    kind: str, difference: float, *, campaigns: int, testers: int, seed: int, looks: dict[str, int]
) -> dict[str, np.ndarray]:
    """Per campaign: when each verdict first happened, for the live and the naive reading, and the
    t test's verdict read once after each of `looks` (name: testers)."""
    random = np.random.default_rng([seed, round(difference * 1000), ["normal", *BETA_KINDS].index(kind)])
    parts: dict[str, list[np.ndarray]] = {}
    for start in range(0, campaigns, CHUNK):
        values = draw(kind, difference, random, min(CHUNK, campaigns - start), testers)
        n, mean, variance = decision.running_moments(values)
        live = decision.classify(n, *decision.always_valid_interval(n, mean, variance))
        naive = decision.classify(n, *decision.fixed_interval(n, mean, variance))
        found = {
            "live_winner": _first(np.isin(live, WINNERS)),
            "live_a": _first(live == decision.A_LEADS),
            "live_b": _first(live == decision.B_LEADS),
            "live_no_difference": _first(live == decision.NO_MEANINGFUL_DIFFERENCE),
            "naive_winner": _first(np.isin(naive, WINNERS)),
            "naive_a": _first(naive == decision.A_LEADS),
            "naive_b": _first(naive == decision.B_LEADS),
        }
        for name, column in found.items():
            parts.setdefault(name, []).append(column)
        for name, look in looks.items():
            parts.setdefault(name, []).append(naive[:, look - 1])
    return {name: np.concatenate(columns) for name, columns in parts.items()}


def _share(mask: np.ndarray) -> float:
    return round(float(np.mean(mask)), 4)


def _quantile(first: np.ndarray, q: float) -> float | None:
    # A tester count that campaigns reached (no interpolation towards the ones that never did).
    value = float(np.quantile(first, q, method="inverted_cdf"))
    return None if math.isinf(value) else value


def null_figures(kind: str, *, campaigns: int, testers: int, seed: int) -> dict[str, Any]:
    runs = replay(kind, 0.0, campaigns=campaigns, testers=testers, seed=seed, looks={"last": testers})
    return {
        "true_sd": round(true_sd(kind, 0.0), 4),
        "live_ever_named_winner": _share(np.isfinite(runs["live_winner"])),
        "naive_t_every_look_ever_named_winner": _share(np.isfinite(runs["naive_winner"])),
        "t_single_look_at_end_named_winner": _share(np.isin(runs["last"], WINNERS)),
        "live_no_meaningful_difference_by_end": _share(np.isfinite(runs["live_no_difference"])),
        "live_median_testers_to_no_meaningful_difference": _quantile(runs["live_no_difference"], 0.5),
    }


def difference_figures(kind: str, difference: float, *, campaigns: int, testers: int, seed: int) -> dict[str, Any]:
    sd = true_sd(kind, difference)
    plan = decision.plan_testers(difference=difference, sd=sd)
    looks = {"at_plan": plan.fixed_testers} if plan.fixed_testers <= testers else {}
    runs = replay(kind, difference, campaigns=campaigns, testers=testers, seed=seed, looks=looks)
    figures = {
        "difference": difference,
        "true_sd": round(sd, 4),
        "live_named_right_winner_by_end": _share(np.isfinite(runs["live_a"])),
        "live_median_testers_to_right_winner": _quantile(runs["live_a"], 0.5),
        "live_p80_testers_to_right_winner": _quantile(runs["live_a"], 0.8),
        "live_ever_named_wrong_winner": _share(np.isfinite(runs["live_b"])),
        "live_ever_no_meaningful_difference": _share(np.isfinite(runs["live_no_difference"])),
        "naive_t_every_look_ever_named_wrong_winner": _share(np.isfinite(runs["naive_b"])),
        "planner_fixed_testers": plan.fixed_testers,
        "planner_always_valid_testers": plan.always_valid_testers,
        "t_single_look_at_planner_fixed_named_right_winner": None,
        "live_named_right_winner_by_planner_always_valid": None,
    }
    if looks:
        figures["t_single_look_at_planner_fixed_named_right_winner"] = _share(runs["at_plan"] == decision.A_LEADS)
    if plan.always_valid_testers <= testers:
        figures["live_named_right_winner_by_planner_always_valid"] = _share(runs["live_a"] <= plan.always_valid_testers)
    return figures


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--campaigns", type=int, default=20000)
    parser.add_argument("--max-testers", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args(argv)
    rules = decision.RULES
    if arguments.campaigns < 1 or arguments.max_testers < rules.min_testers:
        parser.error(f"need at least 1 campaign and {rules.min_testers} testers")
    size = {"campaigns": arguments.campaigns, "testers": arguments.max_testers, "seed": arguments.seed}
    started = time.perf_counter()
    null = {kind: null_figures(kind, **size) for kind in ("normal", "skewed")}
    stress = {"lopsided": null_figures("lopsided", **size)}
    with_difference = {
        f"{kind}_{round(difference * 100)}_points": difference_figures(kind, difference, **size)
        for kind in ("normal", "skewed")
        for difference in DIFFERENCES
    }
    result = {
        "campaigns": arguments.campaigns,
        "max_testers": arguments.max_testers,
        "seed": arguments.seed,
        "rules": asdict(rules),
        "live_within_alpha": all(row["live_ever_named_winner"] <= rules.alpha for row in null.values()),
        "stress_within_alpha": all(row["live_ever_named_winner"] <= rules.alpha for row in stress.values()),
        "null": null,
        "stress": stress,
        "difference": with_difference,
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
