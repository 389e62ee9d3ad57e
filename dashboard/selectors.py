"""The comparison dashboard's data: `dashboard_data` assembles every panel the page and the API
show, as plain JSON-able data, from the tester matrix (matrix.py) and the panels' own modules. How
frames are counted is in counting.py. bench.dashboard times the page without some panels by
swapping the builders imported here (baseline_panel, say_face_summary, benchmark)."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

import numpy as np
from django.http import Http404
from django.urls import reverse
from django.utils.translation import gettext as _

from campaigns.models import Campaign, ScreenerQuestion, Variant
from dashboard import audiences, calibrated
from dashboard.baseline import baseline_panel
from dashboard.comparisons import comparisons, order_effect, variant_rows
from dashboard.counting import active_calibration
from dashboard.decision import DETECT
from dashboard.funnel import frame_outcomes, funnel
from dashboard.matrix import TesterMatrix, tester_matrix
from dashboard.norms import benchmark
from dashboard.say_face import say_face_summary
from dashboard.survey import survey_summary
from dashboard.testers import campaign_testers, progress_summary, tester_counting
from dashboard.timeline import timeline
from dashboard.verdicts import decision_summary
from dashboard.wording import (
    backlog_note,
    calibration_label,
    emotion_name,
    second_opinion_sentence,
    stale_note,
)
from inference.models import Calibration, ModelVersion
from inference.second_opinion.verdict import second_opinion_verdict
from inference.selectors import analysis_backlog, get_model_for_campaign


def dashboard_data(
    *,
    campaign: Campaign,
    threshold: float | None = None,
    detect: float = DETECT,
    audience: audiences.Audience | None = None,
    split: ScreenerQuestion | None = None,
) -> dict[str, Any]:
    """Everything the dashboard shows, as plain JSON-able data (the page and the API share it).
    `detect`: the difference the testers planner sizes for, a fraction of share. `audience`: every
    figure from its testers alone (dashboard.audiences); `split`: the main per-variant figures once
    per choice of that screener question as well."""
    threshold = campaign.confidence_threshold if threshold is None else threshold
    model = get_model_for_campaign(campaign)
    calibration = active_calibration(model)
    variants = list(Variant.objects.filter(campaign=campaign).order_by("position", "created_at"))
    everyone = campaign_testers(campaign)
    # The one place the dashboard picks its testers: with an audience, the testers list, the frame
    # senders and the matrix hold its testers only, and every panel below reads from them (or is
    # handed `only`); the timeline leaves the others out with the excluded testers.
    only = audience.testers if audience is not None else None
    testers = audiences.only(everyone, audience)
    outcomes, senders = frame_outcomes(campaign, only)
    matrix = (
        tester_matrix(campaign=campaign, model=model, threshold=threshold, variants=variants, calibration=calibration)
        if model
        else None
    )
    if matrix is not None and only is not None:
        whole, matrix = matrix, matrix.only(only)
        refused = audiences.counted_refusal(group=matrix, population=whole)
        if refused is not None:
            raise refused
    included = {tid for tid, keep in zip(matrix.tester_ids, matrix.included, strict=True) if keep} if matrix else set()
    excluded = sorted((senders | set(matrix.tester_ids if matrix else [])) - included)
    outside = [tester.id for tester in everyone if only is not None and tester.id not in only]
    ratios = matrix.ratios() if matrix else np.zeros((0, len(variants), 0))
    progress = progress_summary(campaign, testers) if audience is None else audiences.audience_progress(testers)
    return {
        "campaign": {"id": str(campaign.pk), "name": campaign.name},
        "screener": audiences.screener_summary(campaign),
        "audience": audience.as_dict() if audience is not None else None,
        "split": audiences.split_summary(
            campaign=campaign,
            question=split,
            audience=audience,
            matrix=matrix,
            calibration=calibration,
            threshold=threshold,
            detect=detect,
        )
        if split is not None
        else None,
        "model": model_summary(model),
        "calibration": calibration_summary(calibration, matrix),
        "class_names": [
            {"class_name": name, "label": emotion_name(name)} for name in (model.class_names if model else [])
        ],
        "threshold": threshold,
        "default_threshold": campaign.confidence_threshold,
        "min_frames_per_tester": campaign.min_frames_per_tester,
        "decision": decision_summary(
            campaign=campaign,
            matrix=matrix,
            calibration=calibration,
            invited=progress["invited"],
            threshold=threshold,
            detect=detect,
        )
        if matrix
        else None,
        "progress": progress,
        "backlog_note": backlog_note(analysis_backlog(campaign_id=campaign.pk)),
        "frames": funnel(outcomes, matrix),
        "testers": {
            "included": len(included),
            "excluded": len(excluded),
            **tester_counting(campaign=campaign, testers=testers, matrix=matrix, variants=variants, senders=senders),
        },
        "variants": variant_rows(matrix, ratios) if matrix else [],
        "comparisons": comparisons(matrix, ratios) if matrix else [],
        "counting_quality": calibrated.counting_quality(calibration, threshold) if calibration else [],
        "estimated_shares": calibrated.estimated_shares(
            calibration=calibration, variants=variants, means=matrix.shares_input()
        )
        if calibration and matrix
        else None,
        "order_effect": order_effect(matrix, ratios, {t.id: t.variant_order for t in testers}) if matrix else None,
        "survey": survey_summary(campaign=campaign, matrix=matrix, ratios=ratios, testers=only),
        "timeline": timeline(
            campaign=campaign,
            model=model,
            threshold=threshold,
            variants=variants,
            excluded=excluded + outside,
            calibration=calibration,
            stale=bool(matrix and matrix.stale_frames),
        )
        if model
        else {"bin_ms": 0, "variants": []},
        "second_opinion": second_opinion_summary(campaign=campaign, threshold=threshold, testers=only),
        # Without a model there is no matrix, and nothing to set the baseline, ratings or norms beside.
        "baseline": baseline_panel(campaign=campaign, matrix=matrix, model=model, calibration=calibration, testers=only)
        if matrix
        else None,
        "say_face": say_face_summary(campaign=campaign, matrix=matrix, ratios=ratios, testers=only) if matrix else None,
        "norms": benchmark(
            campaign=campaign,
            model=model,
            calibration=calibration,
            threshold=threshold,
            matrix=matrix,
            ratios=ratios,
            testers=only,
        )
        if matrix
        else None,
    }


def second_opinion_summary(
    *, campaign: Campaign, threshold: float, testers: Collection[uuid.UUID] | None = None
) -> dict[str, Any] | None:
    """Does the leading variant stay ahead under the campaign's second model? None without one.
    `testers`: of theirs only (an audience)."""
    if campaign.second_model_version_id is None:
        return None
    verdict = second_opinion_verdict(campaign=campaign, threshold=threshold, testers=testers)
    verdict["sentences"] = [
        {
            "class_name": name,
            "flipped": row["flipped"],
            "sentence": second_opinion_sentence(name, row, verdict["model"]),
        }
        for name, row in verdict["classes"].items()
        if name in ("happy", "sad") or row["flipped"]
    ]
    return verdict


def get_model_version_for_card(model_version_id: int) -> ModelVersion:
    """Any model version, else 404: models are global, so every logged-in researcher may read any
    card (the view requires the login)."""
    model_version = ModelVersion.objects.filter(pk=model_version_id).first()
    if model_version is None:
        raise Http404("No such model.")
    return model_version


def model_summary(model: ModelVersion | None) -> dict[str, Any] | None:
    if model is None:
        return None
    card_url = reverse("dashboard:model-card", kwargs={"model_version_id": model.pk})
    return {"id": model.pk, "name": model.name, "version": model.version, "card_url": card_url}


def calibration_summary(calibration: Calibration | None, matrix: TesterMatrix | None) -> dict[str, Any]:
    """Which probabilities the counts rest on, named on the page and in the JSON."""
    if calibration is None:
        return {
            "state": "uncalibrated",
            "version": None,
            "method": None,
            "faces": None,
            "stale_frames": 0,
            "label": _("Uncalibrated: counting on the model's raw probabilities"),
            "stale_note": "",
        }
    method_label = str(Calibration.Method(calibration.method).label)
    stale = matrix.stale_frames if matrix is not None else 0
    return {
        "state": "calibrated",
        "id": calibration.pk,
        "version": calibration.version,
        "method": calibration.method,
        "method_label": method_label,
        "faces": calibration.faces,
        "created_at": calibration.created_at.isoformat(),
        "stale_frames": stale,
        "source": calibration.source,
        "label": calibration_label(
            version=calibration.version, method=method_label, faces=calibration.faces, source=calibration.source
        ),
        "stale_note": stale_note(stale),
    }
