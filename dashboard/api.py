"""Researcher API for the dashboard: the aggregates as JSON, and the CSV exports."""

from __future__ import annotations

import uuid

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.selectors import get_campaign_for_user
from dashboard.decision import DETECT
from dashboard.exports import csv_response
from dashboard.params import detect_from_query, threshold_from_query
from dashboard.selectors import dashboard_data
from inference.calibrations import predictions_recalibrate_soon

DETECT_PARAMETER = OpenApiParameter(
    "detect",
    OpenApiTypes.FLOAT,
    description="The difference the testers planner sizes for, in percentage points (0.5 to 50; default 5).",
)
THRESHOLD_PARAMETER = OpenApiParameter(
    "threshold",
    OpenApiTypes.FLOAT,
    description="Recompute with this confidence threshold (0 to 1) instead of the campaign's; nothing is stored.",
)


class DashboardDataApi(APIView):
    @extend_schema(
        operation_id="campaign_dashboard",
        parameters=[THRESHOLD_PARAMETER, DETECT_PARAMETER],
        responses={200: OpenApiTypes.OBJECT},
        description="The verdict per emotion (live always-valid while running, the final fixed-sample analysis "
        "once closed) with the testers planner, progress, per-variant emotion ratios with per-tester intervals, "
        "paired comparisons, the calibration the counts rest on, counting quality per emotion, estimated shares "
        "(PACC) with tester-bootstrap intervals, survey, timeline and order effect of one campaign; the variants "
        "relative to each tester's resting face (`baseline`), ratings beside happy shares (`say_face`) and the "
        "organisation's norms (`norms`).",
    )
    def get(self, request: Request, campaign_id: uuid.UUID) -> Response:
        campaign = get_campaign_for_user(request.user, campaign_id)
        threshold = threshold_from_query(request.query_params, default=campaign.confidence_threshold)
        detect = detect_from_query(request.query_params, default=DETECT)
        data = dashboard_data(campaign=campaign, threshold=threshold, detect=detect)
        if data["calibration"]["stale_frames"]:
            # Stale rows are counted raw meanwhile; the recompute makes the next refresh exact.
            predictions_recalibrate_soon(model_version_id=data["model"]["id"])
        return Response(data)


class DashboardExportApi(APIView):
    @extend_schema(
        operation_id="campaign_dashboard_export",
        parameters=[THRESHOLD_PARAMETER],
        responses={(200, "text/csv"): OpenApiTypes.STR},
        description="CSV, by kind: `frames` (per-frame outcomes, no images), `testers` (per-tester summary), "
        "`survey` (survey answers), `baseline` (each tester's resting-face baseline per emotion and how often their "
        "posed expressions were read as posed), `say-face` (per rating-scale question and variant, and per pair of "
        "variants: mean rating, happy share and Spearman's rank correlation with its interval; no tester appears), "
        "`norms` (per variant, happy share and mean rating with the percentile rank among the organisation's "
        "finished variants). Testers appear by their pseudonymous id only.",
    )
    def get(self, request: Request, campaign_id: uuid.UUID, kind: str) -> StreamingHttpResponse:
        campaign = get_campaign_for_user(request.user, campaign_id)
        threshold = threshold_from_query(request.query_params, default=campaign.confidence_threshold)
        return csv_response(campaign=campaign, kind=kind, threshold=threshold)
