"""Benchmark: `python -m bench.head_turn [--per-angle 10] [--step 5] [--seed 0]` prints JSON.

How well `emotion_math.head_turn` reads a head's turn through the workers' decode and detector, on
generated webcam frames whose turn is known (tests/emotion_math/turned_heads.py: the public-domain
astronaut portrait on a 3D head, and its mirror image, turned -60 to 60 degrees, 50-80 cm from the
camera, with small nods and tilts). For each true angle: frames, the share in which exactly one face
was found, the mean estimate and the mean absolute error. Then the same errors by size of turn, the
mean of |estimate| - |true angle| (whether turns read larger or smaller than they are), and
how well frames turned more than 45 degrees are told apart from frames under 15 degrees, at the
default attention threshold (settings.MIMIK["ATTENTION_MAX_HEAD_TURN_DEGREES"], 30). Needs
scikit-image (dev dependency) for the portrait; no database.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_THRESHOLD_DEGREES = 30.0


def _mean(values: list[float]) -> float | None:
    return round(float(np.mean(values)), 2) if values else None


def run(*, per_angle: int, step: int, seed: int) -> dict:
    from tests.emotion_math.turned_heads import read_turn, turned_head_frames

    angles = tuple(range(-60, 61, step))
    started = time.perf_counter()
    frames = turned_head_frames(angles, per_angle=per_angle, seed=seed)
    rendered = time.perf_counter()
    readings = [(frame.pose.yaw, read_turn(frame.jpeg)) for frame in frames]
    read = time.perf_counter()

    per_angle_figures = []
    for angle in angles:
        estimates = [estimate for yaw, estimate in readings if yaw == angle and estimate is not None]
        total = sum(1 for yaw, _estimate in readings if yaw == angle)
        per_angle_figures.append(
            {
                "true_degrees": angle,
                "frames": total,
                "detected_share": round(len(estimates) / total, 3),
                "mean_estimate_degrees": _mean(estimates),
                "mean_absolute_error_degrees": _mean([abs(estimate - angle) for estimate in estimates]),
            }
        )
    found = [(yaw, estimate) for yaw, estimate in readings if estimate is not None]
    by_size = {
        "up_to_30": [abs(estimate - yaw) for yaw, estimate in found if abs(yaw) <= 30],
        "35_to_45": [abs(estimate - yaw) for yaw, estimate in found if 30 < abs(yaw) <= 45],
        "50_to_60": [abs(estimate - yaw) for yaw, estimate in found if abs(yaw) > 45],
    }
    turned = [abs(estimate) for yaw, estimate in found if abs(yaw) > 45]
    frontal = [abs(estimate) for yaw, estimate in found if abs(yaw) < 15]
    return {
        "frames": len(frames),
        "detected_share": round(len(found) / len(frames), 3),
        "mean_absolute_error_degrees": _mean([abs(estimate - yaw) for yaw, estimate in found]),
        "mean_absolute_error_by_turn": {name: _mean(errors) for name, errors in by_size.items()},
        # Positive when turns read larger than they are, on average.
        "size_bias_degrees": _mean([abs(estimate) - abs(yaw) for yaw, estimate in found]),
        "over_45_degrees": {
            "frames": len(turned),
            "smallest_estimate": round(min(turned), 1) if turned else None,
            "share_over_threshold": round(float(np.mean(np.asarray(turned) > DEFAULT_THRESHOLD_DEGREES)), 3)
            if turned
            else None,
        },
        "under_15_degrees": {
            "frames": len(frontal),
            "largest_estimate": round(max(frontal), 1) if frontal else None,
            "share_under_threshold": round(float(np.mean(np.asarray(frontal) < DEFAULT_THRESHOLD_DEGREES)), 3)
            if frontal
            else None,
        },
        "threshold_degrees": DEFAULT_THRESHOLD_DEGREES,
        "seconds": {"render": round(rendered - started, 1), "detect_and_estimate": round(read - rendered, 1)},
        "per_angle": per_angle_figures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-angle", type=int, default=10, help="Frames per true angle (half of them mirrored).")
    parser.add_argument("--step", type=int, default=5, help="Degrees between true angles, -60 to 60.")
    parser.add_argument("--seed", type=int, default=0)
    arguments = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    print(json.dumps(run(per_angle=arguments.per_angle, step=arguments.step, seed=arguments.seed), indent=2))


if __name__ == "__main__":
    main()
