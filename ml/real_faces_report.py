"""What the active model's numbers mean on real faces: accuracy, calibration, counting at the
threshold, test-time augmentation, and a campaign whose truth is known.

    python -m ml.real_faces_report --faces-dir /path/to/faces/test [--json report.json]

The faces folder (one sub-folder per emotion; FER2013 research data) is read from the path given
or `MIMIK_FACES_DIR` and never copied. Everything is measured on held-out halves:
- calibration figures are cross-fitted (fit on one stratified half, measured on the other, and
  the other way round), so each face is measured by a calibration that never saw it;
- the known-truth campaign calibrates and fits the quantifier on one half and draws its frames
  from the other half only.
Prints a readable report, then the same figures as JSON.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from emotion_math import calibration, share_bootstrap
from emotion_math.calibration import stratified_halves
from emotion_math.counting import MINIMUM_COUNTED_FRAMES, threshold_figures
from emotion_math.report import to_jsonable
from emotion_math.shares import fit_quantifier
from inference.classifier import EmotionClassifier, predict_in_batches
from inference.labelled_faces import FacesFolderMissing, load_labelled_faces
from ml import quantification
from ml.calibrate import EXIT_NO_DATA, build_parser, faces_folder, model_spec, seconds_per_face

FIVE_CLASSES = ("happy", "sad", "angry", "neutral", "surprise")
TWO_CLASSES = ("happy", "sad")
FOCUS_CLASSES = ("happy", "sad", "neutral")
# Variant mixes for the known-truth campaign, in the default model's class order
# (angry, disgust, fear, happy, sad, surprise, neutral).
VARIANT_SHARES = {
    "A": {"happy": 0.40, "sad": 0.10, "neutral": 0.30, "surprise": 0.10, "angry": 0.05, "fear": 0.05},
    "B": {"happy": 0.15, "sad": 0.30, "neutral": 0.30, "surprise": 0.05, "angry": 0.10, "fear": 0.10},
}
TIMING_FACES = 200
SIMULATION_REPEATS = 10
TARGET_ERROR = 0.05
# The paired test per estimator and grouping costs a bootstrap each; these are the candidates.
SHOWN_ESTIMATORS = (
    "probabilistic_adjusted_classify_and_count",
    "expectation_maximisation",
    "classify_and_count",
    "mean_probability",
)
# KDEy's paired test is left out: its bootstrap costs ~75 s of CPU a repeat (frames x calibration
# faces kernels per draw), and its point estimates did not beat regularised PACC (ml/README.md).
COMPARED_ESTIMATORS = (
    "regularised_probabilistic_adjusted_classify_and_count",
    "probabilistic_adjusted_classify_and_count",
    "expectation_maximisation",
)
# Every estimator is scored on the same frames, KDEy included (the quantifier keeps the calibration faces).
SIMULATED_ESTIMATORS = quantification.ESTIMATORS + quantification.FACE_ESTIMATORS


def _one_in(share: float) -> str:
    """0.11 -> "about 1 in 9"; 0.75 -> "about 3 in 4"; 0.02 -> "about 1 in 50": plain words for a share."""
    if share <= 0:
        return "none of the"
    if share >= 0.975:
        return "nearly all"
    if share < 0.2:
        return f"about 1 in {round(1 / share)}"
    # Halves, thirds, quarters, fifths, tenths read easily: the simplest within 0.03, else the closest.
    fractions = [(numerator, denominator) for denominator in (2, 3, 4, 5, 10) for numerator in range(1, denominator)]
    close = [pair for pair in fractions if abs(pair[0] / pair[1] - share) <= 0.03]
    numerator, denominator = min(
        close or fractions, key=lambda pair: (pair[1] if close else 0, abs(pair[0] / pair[1] - share))
    )
    return f"about {numerator} in {denominator}"


def describe_threshold_figures(emotion: str, figures: dict[str, Any], threshold: float) -> str:
    """Plain words for the dashboard, e.g. "At 0.8, this model counts about 1 in 9 sad faces;
    about 3 in 4 frames it counts as sad are sad"."""
    if figures["recall"] is None:
        return f"At {threshold:g}, no {emotion} faces were measured for this model."
    text = f"At {threshold:g}, this model counts {_one_in(figures['recall'])} {emotion} faces"
    if figures["precision"] is None:
        return text + f"; it counted no frame as {emotion} on the calibration faces."
    text += f"; {_one_in(figures['precision'])} frames it counts as {emotion} are {emotion}"
    if not figures["enough_counted"]:
        text += f" (from only {figures['counted']} counted frames)"
    return text + "."


def class_indices(class_names: Sequence[str], wanted: Sequence[str]) -> list[int]:
    return [class_names.index(name) for name in wanted if name in class_names]


def accuracies(probabilities: np.ndarray, labels: np.ndarray, class_names: Sequence[str]) -> dict[str, float]:
    return {
        "two_classes_happy_sad": calibration.accuracy(probabilities, labels, class_indices(class_names, TWO_CLASSES)),
        "five_classes": calibration.accuracy(probabilities, labels, class_indices(class_names, FIVE_CLASSES)),
        "seven_classes": calibration.accuracy(probabilities, labels),
    }


def cross_fitted(
    raw_probabilities: np.ndarray, labels: np.ndarray, class_names: Sequence[str], seed: int, mirror: bool
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Calibrated probabilities where every face was calibrated by parameters fitted on the other half."""
    first_half, second_half = stratified_halves(labels, 0.5, seed)
    calibrated = np.empty_like(raw_probabilities)
    fitted = []
    for fit_indices, measured_indices in ((first_half, second_half), (second_half, first_half)):
        parameters = calibration.fit_calibration(
            raw_probabilities[fit_indices],
            labels[fit_indices],
            class_names=class_names,
            seed=seed,
            test_time_augmentation="mirror" if mirror else "none",
        )
        calibrated[measured_indices] = calibration.apply_calibration(raw_probabilities[measured_indices], parameters)
        fitted.append(parameters)
    return calibrated, fitted


def calibration_section(
    raw_probabilities: np.ndarray, labels: np.ndarray, class_names: Sequence[str], threshold: float, mirror: bool
) -> dict[str, Any]:
    calibrated, fitted = cross_fitted(raw_probabilities, labels, class_names, seed=0, mirror=mirror)
    return {
        "methods_chosen": [parameters["method"] for parameters in fitted],
        "accuracy_raw": accuracies(raw_probabilities, labels, class_names),
        "accuracy_calibrated": accuracies(calibrated, labels, class_names),
        "ece_raw": calibration.expected_calibration_error(raw_probabilities, labels),
        "ece_calibrated_cross_fitted": calibration.expected_calibration_error(calibrated, labels),
        "nll_raw": calibration.negative_log_likelihood(raw_probabilities, labels),
        "nll_calibrated": calibration.negative_log_likelihood(calibrated, labels),
        "threshold": threshold,
        "per_emotion_raw": threshold_figures(raw_probabilities, labels, class_names, threshold),
        "per_emotion_calibrated": threshold_figures(calibrated, labels, class_names, threshold),
        "calibrated_probabilities": calibrated,
    }


def simulation_section(
    raw_probabilities: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    threshold: float,
    mirror: bool,
    estimator: str = quantification.DEFAULT_ESTIMATOR,
    repeats: int = SIMULATION_REPEATS,
    compared_estimators: Sequence[str] = COMPARED_ESTIMATORS,
) -> dict[str, Any]:
    """Calibrate + fit the quantifier on one half, simulate campaigns from the other half.

    Every repeat draws new halves and a new campaign; every estimator and grouping is scored on the
    same frames, and the paired test is run for each of `compared_estimators` in each grouping."""
    shares = {variant: [mix.get(name, 0.0) for name in class_names] for variant, mix in VARIANT_SHARES.items()}
    focus_names = [name for name in FOCUS_CLASSES if name in class_names]
    runs = []
    held_out_eces: list[float] = []
    oracle_errors: list[float] = []
    bandwidths: list[float] = []
    main_run: dict[str, Any] = {}
    for seed in range(repeats):
        calibration_indices, simulation_indices = stratified_halves(labels, 0.5, seed)
        parameters = calibration.fit_calibration(
            raw_probabilities[calibration_indices],
            labels[calibration_indices],
            class_names=class_names,
            seed=seed,
            test_time_augmentation="mirror" if mirror else "none",
        )
        calibrated = calibration.apply_calibration(raw_probabilities, parameters)
        # Keeping the faces lets KDEy run; its bandwidth is chosen on these calibration faces only.
        quantifier = quantification.with_calibration_faces(
            fit_quantifier(calibrated[calibration_indices], labels[calibration_indices], class_names),
            calibrated[calibration_indices],
            labels[calibration_indices],
        )
        result = quantification.known_truth_benchmark(
            calibrated[simulation_indices],
            labels[simulation_indices],
            quantifier,
            shares,
            threshold=threshold,
            estimators=SIMULATED_ESTIMATORS,
            focus_classes=focus_names,
            calibration_set=(calibrated[calibration_indices], labels[calibration_indices]),
            estimator=estimator,
            groupings=tuple(quantification.GROUPINGS),
            compared_estimators=compared_estimators,
            # Intervals only for the first campaign: the repeats measure the estimators' spread.
            bootstrap_samples=share_bootstrap.SAMPLES if seed == 0 else 200,
            seed=seed,
        )
        bandwidths.append(quantifier["calibration_faces"]["bandwidth"])
        if seed == 0:
            main_run = result
        # The CLI's own check, spread over split seeds: ECE on the half the calibration never saw.
        held_out_eces.append(
            calibration.expected_calibration_error(calibrated[simulation_indices], labels[simulation_indices])
        )
        oracle_errors.append(
            peeking_matrix_error(
                calibrated[simulation_indices], labels[simulation_indices], quantifier, shares, focus_names, seed
            )
        )
        comparison = result["comparison"]
        focus_indices = class_indices(class_names, focus_names)
        focus = class_indices(class_names, [name for name in TWO_CLASSES if name in class_names])
        runs.append(
            {
                "by_grouping": result["by_grouping"],
                "intervals_cover_truth": all(
                    bool(np.all(variant["interval_covers_truth"][focus_indices]))
                    for variant in result["variants"].values()
                ),
                "paired_test_right": all(
                    comparison["verdict"][index] == comparison["true_verdict"][index] for index in focus
                ),
            }
        )
    summary: dict[str, dict[str, Any]] = {}
    for grouping, figures in runs[0]["by_grouping"].items():
        summary[grouping] = {}
        for name in figures["estimators"]:
            rows = [run["by_grouping"][grouping]["estimators"][name] for run in runs]
            largest = np.array([row["largest_error"] for row in rows])
            summary[grouping][name] = {
                "campaigns_within_0.05": int(np.sum(largest <= TARGET_ERROR)),
                "largest_error_max": float(largest.max()),
                "largest_error_mean": float(largest.mean()),
                "largest_error_median": float(np.median(largest)),
                "mean_absolute_error": float(np.mean([row["mean_absolute_error"] for row in rows])),
                "paired_test_right": (
                    int(sum(row["paired_test_right"] for row in rows)) if "paired_test_right" in rows[0] else None
                ),
            }
    return {
        "variant_shares": VARIANT_SHARES,
        "estimator_used": estimator,
        "ece_calibrated_half_split": {
            "mean": float(np.mean(held_out_eces)),
            "min": float(np.min(held_out_eces)),
            "max": float(np.max(held_out_eces)),
            "splits": len(held_out_eces),
        },
        "campaign": main_run,
        "repeats": {
            "campaigns": len(runs),
            "paired_test_right": int(sum(run["paired_test_right"] for run in runs)),
            "peeking_matrix": {
                "campaigns_within_0.05": int(np.sum(np.array(oracle_errors) <= TARGET_ERROR)),
                "largest_error_max": float(np.max(oracle_errors)),
                "largest_error_mean": float(np.mean(oracle_errors)),
            },
            "intervals_cover_truth": int(sum(run["intervals_cover_truth"] for run in runs)),
            "kde_bandwidths": bandwidths,
            "focus_classes": focus_names,
            "target_error": TARGET_ERROR,
            "by_grouping": summary,
        },
    }


def peeking_matrix_error(
    calibrated: np.ndarray,
    labels: np.ndarray,
    quantifier: dict[str, Any],
    shares: dict[str, list[float]],
    focus_names: Sequence[str],
    seed: int,
) -> float:
    """A diagnostic, not an estimator: plain PACC with the matrix measured on the simulation half
    itself (the campaign's own faces), on the same campaign (same seed). What remains is the
    campaign's sampling error; the gap to the honest estimators is what measuring the matrix on
    other faces of the same emotions costs, which no estimator fitted on the calibration half removes."""
    campaign = quantification.simulate_paired_campaign(labels, shares, seed=seed)
    peeking = fit_quantifier(calibrated, labels, quantifier["class_names"])
    focus = class_indices(quantifier["class_names"], focus_names)
    return max(
        float(
            np.abs(
                quantification.probabilistic_adjusted_classify_and_count(calibrated[frames["face_indices"]], peeking)
                - frames["true_shares"]
            )[focus].max()
        )
        for frames in campaign.values()
    )


def tta_section(
    classifier: EmotionClassifier, faces: list[np.ndarray], raw: dict[str, Any], mirrored: dict[str, Any]
) -> dict[str, Any]:
    timing_faces = faces[:TIMING_FACES]
    plain_seconds = seconds_per_face(classifier, timing_faces, mirror=False)
    mirror_seconds = seconds_per_face(classifier, timing_faces, mirror=True)
    return {
        "accuracy_plain": raw["accuracy_raw"],
        "accuracy_mirror": mirrored["accuracy_raw"],
        "ece_plain_raw": raw["ece_raw"],
        "ece_mirror_raw": mirrored["ece_raw"],
        "ece_plain_calibrated": raw["ece_calibrated_cross_fitted"],
        "ece_mirror_calibrated": mirrored["ece_calibrated_cross_fitted"],
        "nll_plain_calibrated": raw["nll_calibrated"],
        "nll_mirror_calibrated": mirrored["nll_calibrated"],
        "milliseconds_per_face_plain": plain_seconds * 1000,
        "milliseconds_per_face_mirror": mirror_seconds * 1000,
        "timed_faces": len(timing_faces),
    }


def format_counting(section: dict[str, Any], class_names: Sequence[str]) -> list[str]:
    threshold = section["threshold"]
    lines = [f"  {'emotion':<9} {'faces':>5} | raw: counted recall precision | calibrated: counted recall precision"]
    for name in class_names:
        raw_figures, calibrated_figures = section["per_emotion_raw"][name], section["per_emotion_calibrated"][name]

        def cell(figures: dict[str, Any]) -> str:
            recall = "-" if figures["recall"] is None else f"{figures['recall']:.2f}"
            precision = "-" if figures["precision"] is None else f"{figures['precision']:.2f}"
            flag = "" if figures["enough_counted"] else "*"
            return f"{figures['counted']:>7} {recall:>6} {precision:>8}{flag:1}"

        lines.append(f"  {name:<9} {raw_figures['faces']:>5} | {cell(raw_figures)}      | {cell(calibrated_figures)}")
    lines.append(f"  (* fewer than {MINIMUM_COUNTED_FRAMES} counted frames)")
    for name in FOCUS_CLASSES:
        if name in class_names:
            sentence = describe_threshold_figures(name, section["per_emotion_calibrated"][name], threshold)
            lines.append(f"  calibrated: {sentence}")
    return lines


def format_repeats(repeats: dict[str, Any], title: str) -> list[str]:
    """Per grouping and estimator: in how many campaigns the largest error on the focus classes
    (both variants) stays within the target, its worst and mean, the mean absolute error, and how
    often the paired test picked the right variant for happy and sad."""
    campaigns = repeats["campaigns"]
    bandwidths = repeats["kde_bandwidths"]
    lines = [
        f"  {title}; error = |estimated - true share| on {', '.join(repeats['focus_classes'])}, both variants "
        f"(KDEy bandwidth chosen on each calibration half: {min(bandwidths):g}-{max(bandwidths):g}, "
        f"median {np.median(bandwidths):g}):",
        f"    {'grouping':<33} {'estimator':<8} {'within ' + format(repeats['target_error'], 'g'):>11} "
        f"{'worst':>6} {'mean of largest':>15} {'mean abs':>8} {'paired right':>12}",
    ]
    for grouping, estimators in repeats["by_grouping"].items():
        for name, figures in estimators.items():
            paired = "-" if figures["paired_test_right"] is None else f"{figures['paired_test_right']}/{campaigns}"
            lines.append(
                f"    {grouping:<33} {quantification.ABBREVIATIONS[name]:<8} "
                f"{str(figures['campaigns_within_0.05']) + '/' + str(campaigns):>11} "
                f"{figures['largest_error_max']:>6.3f} {figures['largest_error_mean']:>15.3f} "
                f"{figures['mean_absolute_error']:>8.3f} {paired:>12}"
            )
    return lines


def format_report(report: dict[str, Any]) -> str:
    class_names = report["class_names"]
    plain, tta, simulation = report["calibration"], report["test_time_augmentation"], report["simulation"]
    lines = [f"{report['model']} on {report['faces']} faces ({report['faces_dir']})", ""]
    for label, section in (("raw", plain["accuracy_raw"]), ("calibrated", plain["accuracy_calibrated"])):
        lines.append(
            f"accuracy {label:<10}: happy vs sad {section['two_classes_happy_sad']:.3f}, "
            f"five classes {section['five_classes']:.3f}, seven {section['seven_classes']:.3f}"
        )
    half = simulation["ece_calibrated_half_split"]
    lines += [
        f"ECE raw {plain['ece_raw']:.4f} -> calibrated {plain['ece_calibrated_cross_fitted']:.4f} (cross-fitted, "
        f"methods {plain['methods_chosen']}); fit on one half, measured on the other over {half['splits']} splits: "
        f"mean {half['mean']:.4f}, range {half['min']:.4f}-{half['max']:.4f}",
        f"NLL raw {plain['nll_raw']:.4f} -> calibrated {plain['nll_calibrated']:.4f}",
        "",
        f"counting at P >= {plain['threshold']:g} (frame counted for its top emotion):",
        *format_counting(plain, class_names),
        "",
        f"test-time augmentation (face + mirror): accuracy seven {tta['accuracy_plain']['seven_classes']:.3f} -> "
        f"{tta['accuracy_mirror']['seven_classes']:.3f}, happy vs sad "
        f"{tta['accuracy_plain']['two_classes_happy_sad']:.3f} -> "
        f"{tta['accuracy_mirror']['two_classes_happy_sad']:.3f}; "
        f"raw ECE {tta['ece_plain_raw']:.4f} -> "
        f"{tta['ece_mirror_raw']:.4f}; calibrated ECE {tta['ece_plain_calibrated']:.4f} -> "
        f"{tta['ece_mirror_calibrated']:.4f}; cost {tta['milliseconds_per_face_plain']:.2f} -> "
        f"{tta['milliseconds_per_face_mirror']:.2f} ms per face (batch 1)",
        "",
        f"known-truth campaign ({simulation['estimator_used']}; {report['simulation_probabilities']} probabilities), "
        "first campaign:",
    ]
    campaign = simulation["campaign"]
    chosen = simulation["estimator_used"]
    shown = [chosen] + [name for name in SHOWN_ESTIMATORS if name != chosen]
    for variant, figures in campaign["variants"].items():
        lines.append(f"  variant {variant} ({figures['testers']} testers, {figures['frames']} frames)")
        lines.append(
            f"    {'emotion':<9} {'true':>6} {'ratio@t':>8} {'est.':>6} {'95% interval':>14} "
            + " ".join(f"{quantification.ABBREVIATIONS[name]:>6}" for name in shown[1:])
        )
        estimates = figures["estimates"]
        for index, name in enumerate(class_names):
            lines.append(
                f"    {name:<9} {figures['true_shares'][index]:>6.3f} {figures['threshold_ratio'][index]:>8.3f} "
                f"{estimates[chosen][index]:>6.3f} "
                f"{figures['interval_lower'][index]:>6.3f}-{figures['interval_upper'][index]:<6.3f} "
                + " ".join(f"{estimates[estimator][index]:>6.3f}" for estimator in shown[1:])
            )
    comparison = campaign["comparison"]
    for name in TWO_CLASSES:
        index = class_names.index(name)
        lines.append(
            f"  paired test, {name}: B - A = {comparison['difference_b_minus_a'][index]:+.3f} "
            f"[{comparison['lower'][index]:+.3f}, {comparison['upper'][index]:+.3f}], "
            f"p = {comparison['p_value'][index]:.3f}, picks {comparison['verdict'][index]} "
            f"(truth {comparison['true_difference_b_minus_a'][index]:+.3f}: "
            f"{comparison['true_verdict'][index]})"
        )
    repeats = simulation["repeats"]
    lines.append(
        f"  over {repeats['campaigns']} campaigns (different halves and draws), with {chosen}: paired test right "
        f"{repeats['paired_test_right']}/{repeats['campaigns']}; intervals (testers + calibration faces "
        f"resampled) cover every true share in {repeats['intervals_cover_truth']}/{repeats['campaigns']}"
    )
    lines += format_repeats(repeats, f"{report['simulation_probabilities']} probabilities")
    peeking = repeats["peeking_matrix"]
    lines.append(
        f"  diagnostic, not allowed: PACC with the matrix measured on the campaign's own half (peeking) is within "
        f"{repeats['target_error']:g} in {peeking['campaigns_within_0.05']}/{repeats['campaigns']}, worst "
        f"{peeking['largest_error_max']:.3f}, mean of largest {peeking['largest_error_mean']:.3f}: the rest of the "
        "honest estimators' error comes from the calibration faces not being the campaign's faces"
    )
    other = report.get("simulation_other")
    if other:
        lines += format_repeats(other["repeats"], f"{other['probabilities']} probabilities instead")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    parser.prog = "python -m ml.real_faces_report"
    parser.description = __doc__.split("\n\n")[0]
    parser.add_argument("--json", type=Path, help="also write the JSON report to this file")
    parser.add_argument(
        "--estimator",
        default=quantification.DEFAULT_ESTIMATOR,
        choices=SIMULATED_ESTIMATORS,
        help="share estimator for the campaign's intervals and paired test",
    )
    parser.add_argument(
        "--repeats", default=SIMULATION_REPEATS, type=int, help="known-truth campaigns (new halves and draws each)"
    )
    arguments = parser.parse_args(argv)
    spec = model_spec(arguments)
    try:
        folder = faces_folder(arguments.faces_dir)
        if (folder / "test").is_dir():
            folder = folder / "test"
        faces, labels = load_labelled_faces(folder, spec.class_names)
    except FacesFolderMissing as error:
        print(f"No real-faces report: {error}", file=sys.stderr)
        return EXIT_NO_DATA
    class_names = list(spec.class_names)
    classifier = EmotionClassifier(spec)
    plain_probabilities = predict_in_batches(classifier, faces)
    mirror_probabilities = predict_in_batches(classifier, faces, mirror=True)
    plain = calibration_section(plain_probabilities, labels, class_names, arguments.threshold, mirror=False)
    mirrored = calibration_section(mirror_probabilities, labels, class_names, arguments.threshold, mirror=True)
    simulated_with_mirror = arguments.mirror
    report = {
        "model": f"{arguments.model_name} {arguments.model_version}",
        "faces_dir": str(folder),
        "faces": len(faces),
        "class_names": class_names,
        "calibration": mirrored if simulated_with_mirror else plain,
        "calibration_other": plain if simulated_with_mirror else mirrored,
        "test_time_augmentation": tta_section(classifier, faces, plain, mirrored),
        "simulation_probabilities": "mirror" if simulated_with_mirror else "plain",
        "simulation": simulation_section(
            mirror_probabilities if simulated_with_mirror else plain_probabilities,
            labels,
            class_names,
            arguments.threshold,
            mirror=simulated_with_mirror,
            estimator=arguments.estimator,
            repeats=arguments.repeats,
        ),
    }
    report["simulation_other"] = {
        "probabilities": "plain" if simulated_with_mirror else "mirror",
        "repeats": simulation_section(
            plain_probabilities if simulated_with_mirror else mirror_probabilities,
            labels,
            class_names,
            arguments.threshold,
            mirror=not simulated_with_mirror,
            estimator=arguments.estimator,
            repeats=arguments.repeats,
            compared_estimators=(arguments.estimator,),
        )["repeats"],
    }
    for section in (report["calibration"], report["calibration_other"]):
        section.pop("calibrated_probabilities")
    print(format_report(report))
    document = json.dumps(to_jsonable(report), indent=2)
    if arguments.json:
        arguments.json.write_text(document)
        print(f"\nJSON written to {arguments.json}")
    else:
        print("\n" + document)
    return 0


if __name__ == "__main__":
    sys.exit(main())
