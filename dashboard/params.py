"""Query parameters the dashboard endpoints share."""

from __future__ import annotations

import math
from collections.abc import Mapping

from django.utils import formats
from django.utils.translation import gettext as _

from config.errors import ApplicationError


def _number(query: Mapping[str, str], name: str) -> tuple[str | None, float]:
    """`?name=` as given and as a number: (None, nan) when absent or empty, nan when not a number."""
    raw = query.get(name)
    if raw is None or raw == "":
        return None, math.nan
    try:
        return raw, float(raw)
    except ValueError:
        return raw, math.nan


def threshold_from_query(query: Mapping[str, str], *, default: float) -> float:
    """`?threshold=` overrides the campaign's threshold for this request only; 0..1 or a 400."""
    raw, value = _number(query, "threshold")
    if raw is None:
        return default
    if not 0.0 <= value <= 1.0:  # also false for nan
        raise ApplicationError(_("The threshold must be a number from 0 to 1."), extra={"fields": {"threshold": [raw]}})
    return value


DETECT_POINTS = (0.5, 50)  # what a planner can sensibly be asked for, in percentage points


def detect_from_query(query: Mapping[str, str], *, default: float) -> float:
    """`?detect=` sets the difference the planner sizes for, in percentage points; a fraction back."""
    raw, value = _number(query, "detect")
    if raw is None:
        return default
    low, high = DETECT_POINTS
    if not low <= value <= high:  # also false for nan
        raise ApplicationError(
            _("The difference to detect must be a number of points from %(low)s to %(high)s.")
            % {"low": formats.number_format(low), "high": formats.number_format(high)},
            extra={"fields": {"detect": [raw]}},
        )
    return value / 100
