"""How the dashboard counts frames: the rules every figure on the page follows, in one place.

- "Analysed" frames are frames with a prediction of the campaign's model
  (inference.selectors.get_model_for_campaign).
- A tester counts only with at least `min_frames_per_tester` (and at least one) analysed frames on
  every variant: the comparison is paired, so a tester missing one side adds nothing to it. Everyone
  else who sent frames is counted as excluded and appears in no ratio or interval (the page says why,
  testers.tester_counting); their survey answers and comments count all the same.
- Withdrawn testers are deleted rows; only their invitation's `withdrawn_at` remains (progress).
- With an active calibration for the model, frames are counted on their calibrated top class and
  probability. A prediction whose `calibration_version` is not the active one (written before the
  calibration was activated, or by a worker that does not calibrate yet) is "stale": it is counted
  on its raw values, the page says how many there are, and the API queues the recompute.

Callers look `sums_available` up as `counting.sums_available()`, so that one patch in a test
switches every fast path off at once.
"""

from __future__ import annotations

from django.db import connection
from django.db.models import Q

from campaigns.models import Campaign
from inference.models import Calibration, ModelVersion, Prediction


def active_calibration(model: ModelVersion | None) -> Calibration | None:
    if model is None:
        return None
    # The calibration faces (calibration_set, some hundred kB of JSON) are read only where the
    # process has not built their bootstrap yet (calibrated.calibration_set): deferred.
    return Calibration.objects.filter(model_version=model, is_active=True).defer("calibration_set").first()


def sums_available() -> bool:
    """Whether inference.CalibratedSum, MediaTimeFrames and tester_sessions.FrameOutcomeCount are kept
    (PostgreSQL triggers)."""
    return connection.vendor == "postgresql"


def stale_frames(*, campaign: Campaign, model: ModelVersion, calibration: Calibration | None) -> int:
    """Predictions not computed with the active calibration (an index-only scan)."""
    if calibration is None:
        return 0
    return (
        Prediction.objects.filter(campaign=campaign, model_version=model)
        .exclude(calibration_version=calibration.version)
        .count()
    )


def confident_as(class_name: str, threshold: float, calibration: Calibration | None, *, stale: bool = True) -> Q:
    """Frames counted as `class_name`: calibrated values where current, raw values otherwise.
    Without stale rows (the usual case) the plain calibrated test is enough, and much cheaper."""
    raw = Q(top_probability__gte=threshold, top_class=class_name)
    if calibration is None:
        return raw
    calibrated = Q(calibrated_top_probability__gte=threshold, calibrated_top_class=class_name)
    if not stale:
        return calibrated
    current = Q(calibration_version=calibration.version)
    return (current & calibrated) | (~current & raw)
