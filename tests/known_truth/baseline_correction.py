"""Does correcting for each tester's resting face make the A-B comparison more exact? A numpy
simulation with a known truth (no servers, no faces):

    python -m tests.known_truth.baseline_correction [--campaigns 4000] [--testers 20] [--bias-sd 0.1]

Each generated tester has a resting bias: the share of an emotion the model reads in their relaxed
face (a face that looks a little sad, or a little happy), drawn per tester. Their mean probability
of the emotion on a variant is the variant's true share plus that bias plus their own reaction and
the frames' noise; their resting baseline (3 snapshots) is the bias plus its own noise. Three
estimates are compared with the truth over many campaigns:

- the paired A-B difference (every tester sees both variants, as in the product), with and without
  subtracting each tester's baseline: (A - r) - (B - r) = A - B, so the two are the same number;
- the level of a variant: its share (without the baseline) or its share above the tester's rest
  (with it), each against its own truth;
- an A-B difference between testers (each sees one variant: not the product's design), with and
  without it, where the baseline does help.

Run with an additive bias and with a bias on the logit scale (a resting face shifts every reading,
less near 0 and 1), where the baseline no longer matches the bias exactly on every variant; it
still cancels in the paired difference.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass

import numpy as np

TRUE_SHARES = {"A": 0.35, "B": 0.25}  # of one emotion, for a face without any resting bias
REST_SHARE = 0.10  # what the model reads of it in a relaxed face without any bias
BIAS_SD = 0.10  # spread of the resting bias between testers
REACTION_SD = 0.05  # a tester's own reaction to a variant, beyond the variant's true share
FRAME_NOISE_SD = 0.15  # one frame's probability around the tester's mean
FRAMES_PER_VARIANT = 5
RESTING_SNAPSHOTS = 3


@dataclass(frozen=True)
class Errors:
    """Root mean squared error against the truth, over the simulated campaigns."""

    paired_difference_raw: float
    paired_difference_corrected: float
    paired_largest_gap: float  # largest |raw - corrected| of one campaign's paired difference
    level_raw: float  # the variant's share, against the true share
    level_corrected: float  # its share above the tester's rest, against the true share above rest
    between_testers_raw: float
    between_testers_corrected: float


def _logit(p: np.ndarray | float) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def simulate(
    *, campaigns: int = 4000, testers: int = 20, seed: int = 0, logit: bool = False, bias_sd: float = BIAS_SD
) -> Errors:
    rng = np.random.default_rng(seed)
    shape = (campaigns, testers)
    share_a, share_b = TRUE_SHARES["A"], TRUE_SHARES["B"]
    if logit:
        # About the same spread in probability around these shares as the additive bias.
        bias = rng.normal(0, bias_sd / 0.2, shape)

        def read(share: float) -> np.ndarray:
            return _sigmoid(_logit(share) + bias)

    else:
        bias = rng.normal(0, bias_sd, shape)

        def read(share: float) -> np.ndarray:
            return share + bias

    frame_noise = FRAME_NOISE_SD / np.sqrt(FRAMES_PER_VARIANT)
    mean_a = read(share_a) + rng.normal(0, REACTION_SD, shape) + rng.normal(0, frame_noise, shape)
    mean_b = read(share_b) + rng.normal(0, REACTION_SD, shape) + rng.normal(0, frame_noise, shape)
    resting = read(REST_SHARE) + rng.normal(0, FRAME_NOISE_SD / np.sqrt(RESTING_SNAPSHOTS), shape)

    truth = share_a - share_b
    paired_raw = (mean_a - mean_b).mean(axis=1)
    paired_corrected = ((mean_a - resting) - (mean_b - resting)).mean(axis=1)
    level_raw = mean_a.mean(axis=1)
    level_corrected = (mean_a - resting).mean(axis=1)
    half = testers // 2
    between_raw = mean_a[:, :half].mean(axis=1) - mean_b[:, half:].mean(axis=1)
    between_corrected = (mean_a - resting)[:, :half].mean(axis=1) - (mean_b - resting)[:, half:].mean(axis=1)

    def rmse(estimate: np.ndarray, target: float) -> float:
        return float(np.sqrt(np.mean((estimate - target) ** 2)))

    return Errors(
        paired_difference_raw=rmse(paired_raw, truth),
        paired_difference_corrected=rmse(paired_corrected, truth),
        paired_largest_gap=float(np.max(np.abs(paired_raw - paired_corrected))),
        level_raw=rmse(level_raw, share_a),
        level_corrected=rmse(level_corrected, share_a - REST_SHARE),
        between_testers_raw=rmse(between_raw, truth),
        between_testers_corrected=rmse(between_corrected, truth),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--campaigns", type=int, default=4000)
    parser.add_argument("--testers", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bias-sd", type=float, default=BIAS_SD, help="spread of the resting bias between testers")
    args = parser.parse_args()
    results = {
        name: asdict(
            simulate(campaigns=args.campaigns, testers=args.testers, seed=args.seed, logit=logit, bias_sd=args.bias_sd)
        )
        for name, logit in (("additive bias", False), ("bias on the logit scale", True))
    }
    for name, errors in results.items():
        print(f"{name} ({args.campaigns} campaigns of {args.testers} testers), RMSE in percentage points:")
        for key in ("paired_difference", "level", "between_testers"):
            raw, corrected = errors[f"{key}_raw"], errors[f"{key}_corrected"]
            print(f"  {key.replace('_', ' '):<18} raw {100 * raw:5.2f}   baseline-corrected {100 * corrected:5.2f}")
        print(f"  largest paired gap between the two: {errors['paired_largest_gap']:.1e}")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
