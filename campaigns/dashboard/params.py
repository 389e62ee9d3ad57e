"""Query parameters the dashboard endpoints share."""

from __future__ import annotations

import math
from collections.abc import Mapping

from django.utils.translation import gettext as _

from config.errors import ApplicationError


def threshold_from_query(query: Mapping[str, str], *, default: float) -> float:
    """`?threshold=` overrides the campaign's threshold for this request only; 0..1 or a 400."""
    raw = query.get("threshold")
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0.0 <= value <= 1.0:  # also false for nan
        raise ApplicationError(_("The threshold must be a number from 0 to 1."), extra={"fields": {"threshold": [raw]}})
    return value
