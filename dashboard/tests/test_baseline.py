"""Each tester's own baseline (dashboard.baseline) on generated data whose answers are
worked out by hand, and the known-truth simulation of what correcting for it does.

Happy probabilities (calibrated, the other classes share the rest); testers t1-t3 and t5 are
counted, t4 is not:

    tester  resting snapshots   baseline   A     B     A - baseline   B - baseline
    t1      0.1, 0.3            0.2        0.4   0.3   0.2            0.1
    t2      0.5                 0.5        0.6   0.5   0.1            0.0
    t3      0.0, 0.2, 0.4       0.2        0.5   0.2   0.3            0.0
    t4      0.9 (stale calibration: recomputed)         not counted
    t5      none                -          0.8   0.1   (no baseline: left out)

Posed smiles read as happy: t1 one of two, t2 both; posed neutral faces read as neutral: t1 both.
"""

from __future__ import annotations

import math
import uuid

import numpy as np
import pytest
from django.utils import translation
from scipy import stats as scipy_stats

from campaigns.models import Campaign, Organisation, Variant
from dashboard.baseline import baseline_panel, baseline_summary
from dashboard.matrix import TesterMatrix
from inference.calibrations import calibrate_rows
from inference.models import Calibration, ModelVersion
from sessions.models import BaselineSnapshot
from sessions.models import Tester as StudyTester
from tests.known_truth.baseline_correction import simulate

from .conftest import add_snapshot, probabilities

RESTING = {"t1": [0.1, 0.3], "t2": [0.5], "t3": [0.0, 0.2, 0.4]}
ON_VARIANTS = {"t1": (0.4, 0.3), "t2": (0.6, 0.5), "t3": (0.5, 0.2), "t4": (0.9, 0.9), "t5": (0.8, 0.1)}
COUNTED = {"t1", "t2", "t3", "t5"}


@pytest.fixture
def generated(db):
    model = ModelVersion.objects.get(is_active=True)
    names = list(model.class_names)
    organisation = Organisation.objects.create(name="Verlag")
    campaign = Campaign.objects.create(organisation=organisation, name="Baseline", status=Campaign.Status.RUNNING)
    variants = [
        Variant.objects.create(campaign=campaign, label=label, kind="image", file=f"variants/{label}.png", position=i)
        for i, label in enumerate("AB")
    ]
    testers = {
        name: StudyTester.objects.create(campaign=campaign, token_hash=uuid.uuid4().hex, camera="granted")
        for name in sorted(ON_VARIANTS)
    }
    for name, values in RESTING.items():
        for sequence, happy in enumerate(values):
            add_snapshot(testers[name], model, "resting", sequence, probabilities(names, happy))
    # t4's resting snapshot was calibrated with an older calibration: its raw values count, recalibrated.
    stale_raw = probabilities(names, 0.9, rest="sad")
    add_snapshot(testers["t4"], model, "resting", 0, probabilities(names, 0.1), probabilities=stale_raw)
    BaselineSnapshot.objects.filter(tester=testers["t4"]).update(calibration_version="an older one")
    # Not counted: no prediction, still pending, another model's.
    BaselineSnapshot.objects.create(
        campaign=campaign, tester=testers["t1"], kind="resting", sequence=2, outcome="no_face"
    )
    BaselineSnapshot.objects.create(campaign=campaign, tester=testers["t2"], kind="resting", sequence=1)
    other_model = ModelVersion.objects.create(**{**_model_fields(model), "version": "other"})
    add_snapshot(testers["t2"], model, "resting", 2, probabilities(names, 1.0), model_version=other_model)
    # Posed: the calibrated top class counts, not the raw one.
    smile, neutral = probabilities(names, 0.8), probabilities(names, 0.1)
    add_snapshot(testers["t1"], model, "posed_smile", 0, smile)
    add_snapshot(testers["t1"], model, "posed_smile", 1, neutral, top_class="happy")
    add_snapshot(testers["t1"], model, "posed_neutral", 0, neutral)
    add_snapshot(testers["t1"], model, "posed_neutral", 1, neutral)
    add_snapshot(testers["t2"], model, "posed_smile", 0, smile, top_class="neutral")
    add_snapshot(testers["t2"], model, "posed_smile", 1, smile)

    ids = sorted(tester.pk for tester in testers.values())
    name_of = {tester.pk: name for name, tester in testers.items()}
    happy = names.index("happy")
    means = np.full((len(ids), 2, len(names)), 0.0)
    for row, tester_id in enumerate(ids):
        for v, value in enumerate(ON_VARIANTS[name_of[tester_id]]):
            means[row, v, happy], means[row, v, names.index("neutral")] = value, 1 - value
    matrix = TesterMatrix(
        variants, names, ids, np.full((len(ids), 2), 5), np.zeros((len(ids), 2, len(names))), 0, means
    )
    matrix.included = np.array([name_of[tester_id] in COUNTED for tester_id in ids])
    return campaign, model, testers, matrix, stale_raw


def _model_fields(model: ModelVersion) -> dict:
    fields = ("name", "file_path", "framework", "class_names", "input_size", "color_mode", "scaling")
    return {field: getattr(model, field) for field in fields}


def test_baseline_summary_gives_each_testers_baseline_and_the_variants_relative_to_it(generated):
    campaign, model, testers, matrix, stale_raw = generated

    summary = baseline_summary(campaign, matrix)

    assert summary["model"] == model.pk and summary["calibrated"] is True
    by_tester = {entry["tester"]: entry for entry in summary["testers"]}
    assert set(by_tester) == {str(testers[name].pk) for name in ("t1", "t2", "t3", "t4")}
    t1, t2, t3, t4 = (by_tester[str(testers[name].pk)] for name in ("t1", "t2", "t3", "t4"))
    assert [t1["baseline"]["happy"], t2["baseline"]["happy"], t3["baseline"]["happy"]] == pytest.approx([0.2, 0.5, 0.2])
    assert t1["baseline"]["neutral"] == pytest.approx(0.8)
    assert [t["resting_snapshots"] for t in (t1, t2, t3, t4)] == [2, 1, 3, 1]
    assert [t["counted"] for t in (t1, t2, t3, t4)] == [True, True, True, False]
    active = Calibration.objects.get(model_version=model, is_active=True)
    recalibrated = calibrate_rows([stale_raw], active.parameters)[0]["calibrated_probabilities"]
    assert t4["baseline"] == pytest.approx(recalibrated)
    assert summary["testers_with_baseline"] == 4 and summary["counted_with_baseline"] == 3

    assert t1["posed_smile"] == {"snapshots": 2, "read_as_happy": 0.5}
    assert t1["posed_neutral"] == {"snapshots": 2, "read_as_neutral": 1.0}
    assert t2["posed_smile"] == {"snapshots": 2, "read_as_happy": 1.0}
    assert t2["posed_neutral"] == {"snapshots": 0, "read_as_neutral": None}
    assert summary["posed"]["smile_read_as_happy"]["mean"] == pytest.approx(0.75)
    assert summary["posed"]["neutral_read_as_neutral"] == {"n": 1, "mean": 1.0, "low": None, "high": None}

    a, b = summary["variants"]
    assert (a["label"], a["testers"], b["testers"]) == ("A", 3, 3)
    happy_a, happy_b = a["classes"]["happy"], b["classes"]["happy"]
    assert (happy_a["share"], happy_a["resting"]) == pytest.approx((0.5, 0.3))
    half_width = scipy_stats.t.ppf(0.975, 2) * 0.1 / math.sqrt(3)  # differences 0.2, 0.1, 0.3
    assert happy_a["relative"]["n"] == 3
    assert [happy_a["relative"][key] for key in ("mean", "low", "high")] == pytest.approx(
        [0.2, 0.2 - half_width, 0.2 + half_width]
    )
    assert happy_b["relative"]["mean"] == pytest.approx(0.1 / 3)
    # The baseline cancels in the paired comparison: A - B relative to it is A - B.
    assert happy_a["relative"]["mean"] - happy_b["relative"]["mean"] == pytest.approx(np.mean([0.1, 0.1, 0.3]))
    assert a["classes"]["neutral"]["relative"]["mean"] == pytest.approx(-0.2)


def test_without_calibrated_means_the_baseline_is_raw_and_no_variant_is_compared(generated):
    campaign, _model, testers, matrix, stale_raw = generated
    matrix.mean_calibrated = None

    summary = baseline_summary(campaign, matrix)

    assert summary["calibrated"] is False and summary["variants"] == []
    t4 = next(entry for entry in summary["testers"] if entry["tester"] == str(testers["t4"].pk))
    assert t4["baseline"] == pytest.approx(stale_raw)
    t2 = next(entry for entry in summary["testers"] if entry["tester"] == str(testers["t2"].pk))
    assert t2["posed_smile"]["read_as_happy"] == 0.5  # the raw top classes now: one says neutral
    assert baseline_summary(campaign, None)["testers_with_baseline"] == 4


def test_the_panel_says_whom_its_table_rests_on_or_why_it_is_empty(generated):
    campaign, model, _testers, matrix, _stale_raw = generated
    calibration = Calibration.objects.get(model_version=model, is_active=True)

    def panel() -> dict:
        with translation.override("en"):
            return baseline_panel(campaign=campaign, matrix=matrix, model=model, calibration=calibration)

    shown = panel()
    assert shown["sentence"] == (
        "3 of 4 counted testers have a resting-face baseline (their relaxed face before the first advertisement); "
        "the table rests on them."
    )
    # t1 read one posed smile of two as happy, t2 both: 75 %, and over two testers the interval is all of 0-100 %.
    assert shown["posed_sentence"] == (
        "Posed smiles read as happy: 75 % (95 % interval 0–100 %), 2 testers. "
        "Posed neutral faces read as neutral: 100 %, 1 tester."
    )
    assert "testers" not in shown  # one row per tester is the export's
    matrix.mean_calibrated[:] = np.nan  # the advertisements' snapshots not yet recomputed
    assert panel()["sentence"] == (
        "No counted tester with a resting-face baseline has calibrated snapshots of the advertisements yet."
    )
    matrix.mean_calibrated = None
    assert panel()["sentence"].startswith("Comparing with each tester's resting face needs a calibration")
    BaselineSnapshot.objects.filter(campaign=campaign).delete()
    assert panel()["posed_sentence"] == ""


def test_the_known_truth_simulation_shows_the_baseline_cancels_in_the_paired_comparison():
    for logit in (False, True):
        wide = simulate(campaigns=400, testers=20, seed=1, logit=logit, bias_sd=0.2)
        narrow = simulate(campaigns=400, testers=20, seed=1, logit=logit, bias_sd=0.01)
        for errors in (wide, narrow):
            assert errors.paired_largest_gap < 1e-12
            assert errors.paired_difference_corrected == pytest.approx(errors.paired_difference_raw)
        # It pays for levels only when testers' resting faces differ more than 3 snapshots' noise.
        assert wide.level_corrected < wide.level_raw and wide.between_testers_corrected < wide.between_testers_raw
        assert narrow.level_corrected > narrow.level_raw
