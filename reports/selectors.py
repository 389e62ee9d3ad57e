"""Reads of the reports app: the report's content and the share links.

The report shows the dashboard's own figures: `report_content` takes `dashboard.selectors.
dashboard_data` (at the campaign's threshold, as the dashboard opens) and only picks and formats from
it, so the report and the dashboard can never disagree. It leaves out what names or quotes a single
tester (the comments, the say-versus-face list of testers by id) and what describes other campaigns
(the organisation's norms): a report is passed on, to people who may not see those.

Small groups: the dashboard shows no figure of a group smaller than settings.MIMIK[
"MIN_AUDIENCE_TESTERS"] testers, so that no one in it can be picked out. The report holds the whole
campaign to the same rule: its emotion figures need that many counted testers, a survey figure that
many answers, a second of the moments that many testers (dashboard.moments).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import formats, timezone, translation
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from campaigns.models import Campaign
from campaigns.selectors import get_campaign_for_user
from campaigns.tokens import hash_token
from dashboard.audiences import minimum_testers
from dashboard.moments import campaign_moments
from dashboard.selectors import dashboard_data
from dashboard.strings import page_strings
from reports.models import ReportLink

# One answer for every link that does not (or no longer) work: a stranger learns nothing from it.
LINK_NOT_FOUND = "No such report."


# --- Share links ------------------------------------------------------------------------------


def get_report_link_for_token(token: str) -> ReportLink:
    """The working link behind a token, else 404, the same for unknown, expired and revoked ones.
    Looked up by the token's hash (campaigns.tokens), never by the token."""
    link = (
        ReportLink.objects.select_related("campaign")
        .filter(token_hash=hash_token(token), revoked_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )
    if link is None:
        raise Http404(LINK_NOT_FOUND)
    return link


def active_report_links(*, campaign: Campaign) -> QuerySet[ReportLink]:
    """The campaign's links that still work, newest first."""
    return (
        ReportLink.objects.filter(campaign=campaign, revoked_at__isnull=True, expires_at__gt=timezone.now())
        .select_related("created_by")
        .order_by("-created_at", "-id")
    )


def get_report_link_for_user(
    user: AbstractBaseUser | AnonymousUser, campaign_id: uuid.UUID | str, link_id: int
) -> ReportLink:
    """A link of a campaign the user may see, else 404 (another organisation's links included)."""
    campaign = get_campaign_for_user(user, campaign_id)
    return get_object_or_404(ReportLink.objects.select_related("campaign"), campaign=campaign, pk=link_id)


# --- The report's content ----------------------------------------------------------------------


def report_content(*, campaign: Campaign) -> dict[str, Any]:
    """Everything the report shows, in the campaign's language: the dashboard's figures and
    sentences, formatted for reading. Numbers for the charts stay numbers (`value`, `low`, `high`)."""
    minimum = minimum_testers()
    with translation.override(campaign.language):
        data = dashboard_data(campaign=campaign)
        moments = campaign_moments(campaign=campaign)
        labels = page_strings()
        emotions = _report_emotions(data)
        # Too few counted testers: every emotion figure would describe a handful of people.
        shown = data["testers"]["included"] >= minimum
        return {
            "language": campaign.language,
            "campaign": {
                "name": campaign.name,
                "status": campaign.get_status_display(),
                "is_demo": campaign.is_demo,
            },
            "generated_at": timezone.now(),
            "labels": labels,
            "has_model": data["model"] is not None,
            "emotions": emotions,
            "too_few_note": "" if shown else too_few_note(minimum),
            "verdict": _verdict(data, emotions) if shown else None,
            "progress": [(labels[key], data["progress"][key]) for key in _PROGRESS],
            "frames": [(labels[key], data["frames"][key]) for key in _FRAMES],
            "testers": {
                "summary": data["testers"]["summary"],
                "reasons": [reason["text"] for reason in data["testers"]["reasons"]],
                "survey_only_note": data["testers"]["survey_only_note"],
            },
            "shares": _estimated_shares(data) if shown else None,
            "ratios": _ratios(data) if shown else None,
            "attention": _attention(moments),
            "moments": _moments(moments, emotions) if shown else {"variants": [], "markers": []},
            "survey": _survey(data, minimum, say_face=shown),
            "method": _method(campaign, data),
        }


def too_few_note(minimum: int) -> str:
    return _(
        "Fewer than %(minimum)s testers are counted so far: the report shows their emotion figures once there "
        "are more, so that no one can be picked out."
    ) % {"minimum": minimum}


_PROGRESS = ("invited", "opened", "consented", "completed", "withdrawn")
_FRAMES = ("received", "face_found", "passed_quality", "high_confidence")


def _report_emotions(data: dict[str, Any]) -> list[dict[str, str]]:
    """The emotions the verdict is about by default (the dashboard's own choice: happy and sad)."""
    names = data["decision"]["default_emotions"] if data["decision"] else ["happy", "sad"]
    known = {row["class_name"]: row["label"] for row in data["class_names"]}
    return [{"class_name": name, "label": known[name]} for name in names if name in known]


def percent(value: float | None, digits: int = 0) -> str:
    """A share as a percentage in the active language ("79 %", "12,5 %"); a dash for no value."""
    if value is None:
        return "–"
    # number_format cuts digits off; the dashboard's sentences round.
    return formats.number_format(round(value * 100, digits), digits) + "\u00a0%"


def number(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "–"
    return formats.number_format(round(value, digits), digits)


def span(low: float | None, high: float | None, formatter=percent) -> str:
    """An interval as the dashboard's sentences write it: 69–90 %."""
    if low is None or high is None:
        return ""
    return f"{formatter(low)} – {formatter(high)}"


def _points(value: float | None) -> str:
    """Percentage points as the verdict's sentences give them: one decimal below 10."""
    return "–" if value is None else number(value, 1 if abs(value) < 10 else 0)


def _verdict(data: dict[str, Any], emotions: list[dict[str, str]]) -> dict[str, Any] | None:
    decision = data["decision"]
    if decision is None:
        return None
    wanted = [emotion["class_name"] for emotion in emotions]
    by_name = {row["class_name"]: row for row in decision["emotions"]}
    second = data["second_opinion"]
    return {
        "method_note": decision["method_note"],
        "basis_note": decision["basis_note"],
        "emotions": [
            {
                "label": capfirst(by_name[name]["label"]),
                "sentence": by_name[name]["sentence"],
                "clear": by_name[name]["clear"],
                "pairs": [
                    {
                        "comparison": f"{pair['label_a']} – {pair['label_b']}",
                        "ahead": {"a": pair["label_a"], "b": pair["label_b"]}.get(pair["ahead"] or "", ""),
                        "points": _points(pair["points"]),
                        "interval": f"{_points(pair['points_low'])} – {_points(pair['points_high'])}"
                        if pair["points_low"] is not None and pair["points_high"] is not None
                        else "",
                        "confidence": percent(pair["confidence"], 1),
                        "n": pair["n"],
                        "clear": pair["verdict"] in ("a_leads", "b_leads"),
                    }
                    for pair in by_name[name]["pairs"]
                ],
            }
            for name in wanted
            if name in by_name
        ],
        "second_opinion": [row["sentence"] for row in second["sentences"]] if second else [],
    }


def _chart_values(value: float | None, low: float | None, high: float | None) -> dict[str, Any]:
    return {"value": value, "low": low, "high": high, "text": percent(value), "span": span(low, high)}


def _table(data: dict[str, Any], variants: list[dict[str, Any]]) -> dict[str, Any]:
    """Emotions down, variants across: every emotion of the model, as the dashboard's tables."""
    return {
        "columns": [variant["label"] for variant in variants],
        "rows": [
            {
                "label": capfirst(emotion["label"]),
                "cells": [variant["classes"].get(emotion["class_name"]) for variant in variants],
            }
            for emotion in data["class_names"]
        ],
    }


def _estimated_shares(data: dict[str, Any]) -> dict[str, Any] | None:
    """Per variant and emotion, the estimated share with its interval (dashboard: estimated shares)."""
    shares = data["estimated_shares"]
    if not shares:
        return None
    variants = [
        {
            "label": row["label"],
            "classes": {
                cell["class_name"]: _chart_values(cell["share"], cell["low"], cell["high"]) for cell in row["classes"]
            },
        }
        for row in shares["variants"]
    ]
    return {"note": shares["note"], "variants": variants, "table": _table(data, variants)}


def _ratios(data: dict[str, Any]) -> dict[str, Any] | None:
    """Per variant and emotion, the mean of per-tester ratios with its 95 % t interval."""
    if not data["variants"]:
        return None
    variants = [
        {
            "label": row["label"],
            "frames": row["frames"],
            "testers": row["testers"],
            "classes": {
                cell["class_name"]: _chart_values(
                    cell["tester_mean"]["mean"], cell["tester_mean"]["low"], cell["tester_mean"]["high"]
                )
                for cell in row["classes"]
            },
        }
        for row in data["variants"]
    ]
    return {"variants": variants, "table": _table(data, variants)}


def _moments(moments: dict[str, Any], emotions: list[dict[str, str]]) -> dict[str, Any]:
    """The dashboard's moments: per variant and second, the report's emotions' estimated shares and
    the share looking at the screen (no figure for a second with fewer testers than the minimum),
    and each marker's seconds after against those before."""
    names = [emotion["class_name"] for emotion in emotions]
    variants = []
    for variant in moments["variants"]:
        shown = [second for second in variant["seconds"] if second["shares"]]
        variants.append(
            {
                "label": variant["label"],
                "end": variant["duration_ms"] / 1000,
                "series": {
                    name: [(row["second"] + 0.5, row["shares"][name]["share"]) for row in shown] for name in names
                },
                "attention": [
                    (row["second"] + 0.5, row["attention"]["share"])
                    for row in variant["seconds"]
                    if row["attention"]["share"] is not None
                ],
                "rows": [
                    {
                        "second": row["second"],
                        "testers": row["testers"],
                        "shares": [_share_with_interval(row["shares"][name]) for name in names],
                        "attention": percent(row["attention"]["share"]),
                    }
                    for row in shown
                ],
            }
        )
    markers = []
    for marker in moments["markers"]:
        effects = {row["class_name"]: row for row in marker["classes"] or []}
        markers.append(
            {
                "variant": marker["variant"],
                "label": marker["label"],
                "at": number(marker["at_ms"] / 1000, 1),
                "testers": marker["testers"],
                "effects": [
                    {
                        "change": f"{percent(effects[name]['before'])} → {percent(effects[name]['after'])}",
                        "difference": f"{_points(effects[name]['difference'] * 100)} "
                        f"({_points(effects[name]['low'] * 100)} – {_points(effects[name]['high'] * 100)})",
                    }
                    if name in effects
                    else None
                    for name in names
                ],
            }
        )
    return {"variants": variants, "markers": markers, "window_seconds": moments["window_seconds"]}


def _share_with_interval(figure: dict[str, float]) -> str:
    return f"{percent(figure['share'])} ({span(figure['low'], figure['high'])})"


def _attention(moments: dict[str, Any]) -> list[dict[str, Any]]:
    """Per variant, the share of analysed snapshots with a face looking at the screen (no figure for
    a variant seen by fewer testers than the minimum group)."""
    return [
        {
            "label": variant["label"],
            "share": percent(variant["attention"]["share"]),
            "testers": variant["attention"]["testers"],
        }
        for variant in moments["variants"]
    ]


def _survey(data: dict[str, Any], minimum: int, *, say_face: bool) -> dict[str, Any]:
    """Mean ratings per question and variant (none from fewer than `minimum` answers), how many
    comments there are (not what they say), and the say-versus-face sentences (over counted testers;
    no tester named)."""
    survey = data["survey"]
    say_face = (data["say_face"] if say_face else None) or {"questions": [], "note": ""}

    def enough(row: dict[str, Any], key: str) -> Any:
        return row[key] if row["n"] >= minimum else None

    agreement = {
        question["id"]: [
            row["agreement"]["sentence"]
            for row in [*question["variants"], *question["pairs"]]
            if row.get("agreement") and row["agreement"].get("sentence")
        ]
        for question in say_face["questions"]
    }
    small = any(row["n"] < minimum for question in survey["questions"] for row in question["variants"])
    return {
        "small_note": _(
            "A figure from fewer than %(minimum)s answers is left out (–), so that no one can be picked out."
        )
        % {"minimum": minimum}
        if small
        else "",
        "questions": [
            {
                "text": question["text"],
                "scale_min": question["scale_min"],
                "scale_max": question["scale_max"],
                "scale": f"{question['scale_min']}–{question['scale_max']}",
                "min_label": question.get("min_label", ""),
                "max_label": question.get("max_label", ""),
                "variants": [
                    {
                        "label": row["label"],
                        "n": row["n"],
                        "value": enough(row, "mean"),
                        "low": enough(row, "low"),
                        "high": enough(row, "high"),
                        "mean": number(enough(row, "mean")),
                        "span": span(enough(row, "low"), enough(row, "high"), number),
                    }
                    for row in question["variants"]
                ],
                "say_face": agreement.get(question["id"], []),
            }
            for question in survey["questions"]
        ],
        "comments_total": survey["comments_total"],
        "say_face_note": say_face["note"],
    }


def _method(campaign: Campaign, data: dict[str, Any]) -> dict[str, Any]:
    """How the figures were made: the counting rules, the model and the calibration."""

    def field(name: str) -> str:
        return capfirst(str(Campaign._meta.get_field(name).verbose_name))

    model = data["model"]
    calibration = data["calibration"]
    return {
        "settings": [
            (_("Confidence threshold"), number(data["threshold"], 2)),
            (field("min_frames_per_tester"), str(data["min_frames_per_tester"])),
            (field("capture_interval_seconds"), number(campaign.capture_interval_seconds, 1)),
            (field("order_mode"), campaign.get_order_mode_display()),
        ],
        "model": f"{model['name']} ({model['version']})" if model else "",
        "calibration": calibration["label"],
        "stale_note": calibration["stale_note"],
        "quality": [row["sentence"] for row in data["counting_quality"]],
        "estimator_note": data["estimated_shares"]["note"] if data["estimated_shares"] else "",
        "backlog_note": data["backlog_note"],
    }
