"""Researcher API for the dashboard: the aggregates as JSON, the moments, markers, and the CSV exports."""

from __future__ import annotations

import uuid

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.models import Marker
from campaigns.selectors import get_campaign_for_user, get_marker_for_user, get_variant_for_user
from campaigns.services import marker_create, marker_delete
from dashboard.audiences import audience_from_query, split_from_query
from dashboard.decision import DETECT
from dashboard.exports import csv_response
from dashboard.moments import campaign_moments
from dashboard.params import detect_from_query, threshold_from_query
from dashboard.selectors import dashboard_data
from inference.calibrations import predictions_recalibrate_soon

DETECT_PARAMETER = OpenApiParameter(
    "detect",
    OpenApiTypes.FLOAT,
    description="The difference the testers planner sizes for, in percentage points (0.5 to 50; default 5).",
)
AUDIENCE_PARAMETER = OpenApiParameter(
    "audience",
    OpenApiTypes.STR,
    description="`<screener question id>:<choice>`: every figure from the testers who gave that answer only "
    "(`screener` lists the values). A group of fewer than MIN_AUDIENCE_TESTERS testers is refused (403).",
)
SPLIT_PARAMETER = OpenApiParameter(
    "split",
    OpenApiTypes.INT,
    description="A screener question's id: the per-variant ratios, estimated shares and verdict once per choice "
    "(`split.groups`); a group of fewer than MIN_AUDIENCE_TESTERS testers carries the refusal instead of figures.",
)
THRESHOLD_PARAMETER = OpenApiParameter(
    "threshold",
    OpenApiTypes.FLOAT,
    description="Recompute with this confidence threshold (0 to 1) instead of the campaign's; nothing is stored.",
)


class DashboardDataApi(APIView):
    @extend_schema(
        operation_id="campaign_dashboard",
        parameters=[THRESHOLD_PARAMETER, DETECT_PARAMETER, AUDIENCE_PARAMETER, SPLIT_PARAMETER],
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
        audience = audience_from_query(campaign=campaign, query=request.query_params)
        split = split_from_query(campaign=campaign, query=request.query_params)
        data = dashboard_data(campaign=campaign, threshold=threshold, detect=detect, audience=audience, split=split)
        if data["calibration"]["stale_frames"]:
            # Stale rows are counted raw meanwhile; the recompute makes the next refresh exact.
            predictions_recalibrate_soon(model_version_id=data["model"]["id"])
        return Response(data)


class DashboardExportApi(APIView):
    @extend_schema(
        operation_id="campaign_dashboard_export",
        parameters=[THRESHOLD_PARAMETER, AUDIENCE_PARAMETER],
        responses={(200, "text/csv"): OpenApiTypes.STR},
        description="CSV, by kind: `frames` (per-frame outcomes, no images), `testers` (per-tester summary), "
        "`survey` (survey answers), `baseline` (each tester's resting-face baseline per emotion and how often their "
        "posed expressions were read as posed), `say-face` (per rating-scale question and variant, and per pair of "
        "variants: mean rating, happy share and Spearman's rank correlation with its interval; no tester appears), "
        "`norms` (per variant, happy share and mean rating with the percentile rank among the organisation's "
        "finished variants). Testers appear by their pseudonymous id only; where rows are per tester, their screener "
        "answers follow as columns. `audience` restricts every export to one group, as on the dashboard.",
    )
    def get(self, request: Request, campaign_id: uuid.UUID, kind: str) -> StreamingHttpResponse:
        campaign = get_campaign_for_user(request.user, campaign_id)
        threshold = threshold_from_query(request.query_params, default=campaign.confidence_threshold)
        audience = audience_from_query(campaign=campaign, query=request.query_params)
        return csv_response(campaign=campaign, kind=kind, threshold=threshold, audience=audience)


class MomentsApi(APIView):
    @extend_schema(
        operation_id="campaign_moments",
        responses={200: OpenApiTypes.OBJECT},
        description="Second by second of each variant (media time; an image's seconds since shown): every "
        "emotion's estimated share with its tester-bootstrap interval, the testers covering the second (no "
        "figure under the minimum group size), the share of snapshots looking at the screen, the markers, and "
        "per marker each emotion's share in the seconds after it against the seconds before.",
    )
    def get(self, request: Request, campaign_id: uuid.UUID) -> Response:
        campaign = get_campaign_for_user(request.user, campaign_id)
        audience = audience_from_query(campaign=campaign, query=request.query_params)
        return Response(campaign_moments(campaign=campaign, testers=audience.testers if audience else None))


class MarkerInputSerializer(serializers.Serializer):
    variant = serializers.UUIDField()
    at_ms = serializers.IntegerField(min_value=0)
    kind = serializers.ChoiceField(choices=Marker.Kind.choices)
    label = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class MarkerCreateApi(APIView):
    @extend_schema(
        operation_id="campaign_marker_create",
        request=MarkerInputSerializer,
        responses={201: OpenApiTypes.OBJECT},
        description="Mark a moment of a video variant (brand shown, offer, end card, story moment).",
    )
    def post(self, request: Request, campaign_id: uuid.UUID) -> Response:
        campaign = get_campaign_for_user(request.user, campaign_id)
        serializer = MarkerInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        variant = get_variant_for_user(request.user, campaign.pk, data["variant"])
        marker = marker_create(variant=variant, at_ms=data["at_ms"], kind=data["kind"], label=data["label"])
        return Response({"id": marker.pk, "at_ms": marker.at_ms, "kind": marker.kind, "label": str(marker)}, 201)


class MarkerDeleteApi(APIView):
    @extend_schema(operation_id="campaign_marker_delete", request=None, responses={204: None})
    def delete(self, request: Request, campaign_id: uuid.UUID, marker_id: int) -> Response:
        marker_delete(marker=get_marker_for_user(request.user, campaign_id, marker_id))
        return Response(status=204)
