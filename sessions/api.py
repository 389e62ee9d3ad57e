"""The tester's API: one snapshot per request, and the camera check. The link token is the
credential (in the URL or the X-Tester-Token header), so there is no session or CSRF here.

A snapshot comes either as the request body itself (`Content-Type: image/jpeg` or `image/png`, the
other fields in X-Snapshot-* headers: what the tester page sends, the cheapest to parse) or as a
multipart form (`image` plus the fields), for clients that prefer forms."""

from __future__ import annotations

import functools

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.files.uploadhandler import MemoryFileUploadHandler
from django.db import OperationalError
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from psycopg_pool import PoolTimeout
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import BaseParser, DataAndFiles, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.body_limit import body_was_cut, tester_body_limit
from config.errors import ApplicationError, service_unavailable
from inference.services import frame_quality_verdict
from sessions import selectors, services
from sessions.access import get_tester_for_upload
from sessions.models import Tester
from sessions.serializers import (
    BaselineUploadSerializer,
    CameraCheckResultSerializer,
    CameraCheckSerializer,
    ErrorSerializer,
    FrameUploadSerializer,
)

TOKEN_HEADER = "X-Tester-Token"  # noqa: S105 - a header name, not a secret
# The fields of a raw-body upload (a multipart form carries them as form fields instead).
SNAPSHOT_HEADERS = {
    "variant": "X-Snapshot-Variant",
    "sequence": "X-Snapshot-Sequence",
    "media_time_ms": "X-Snapshot-Media-Time-Ms",
    "captured_at": "X-Snapshot-Captured-At",
    "kind": "X-Snapshot-Kind",  # baseline snapshots only
}

VERDICT_MESSAGES = {
    "ok": gettext_lazy("Your face is clearly visible. You can start."),
    "no_face": gettext_lazy("We cannot see a face. Please look into the camera."),
    "multiple_faces": gettext_lazy("We see more than one face. Please make sure you are alone in the picture."),
    "face_too_small": gettext_lazy("Your face is too far away. Please move closer to the camera."),
    "too_dark": gettext_lazy("The picture is too dark. Please turn on a light or face a window."),
    "overexposed": gettext_lazy("The picture is too bright. Please move away from direct light."),
    "blurred": gettext_lazy("The picture is blurred. Please hold still or clean the camera lens."),
    "undecodable": gettext_lazy("The snapshot could not be read. Please try again."),
}


def too_large() -> ApplicationError:
    limit = settings.MIMIK["FRAME_MAX_BYTES"]
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    return ApplicationError(_("The snapshot is too large."), extra={"max_bytes": limit}, status_code=status_code)


class AlwaysInMemoryUploadHandler(MemoryFileUploadHandler):
    """Snapshots must never touch the disk: keep the file in memory whatever its size, and count
    the bytes as they arrive, so a body without (or with a false) Content-Length is cut off at
    FRAME_MAX_BYTES instead of being read to its end."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None) -> None:
        self.activated = True
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self.received += len(raw_data)
        if self.received > settings.MIMIK["FRAME_MAX_BYTES"]:
            raise too_large()
        return super().receive_data_chunk(raw_data, start)


class RawSnapshotParser(BaseParser):
    """The body is the image itself (what a canvas' toBlob gives the page); the other fields come
    from the X-Snapshot-* headers. No multipart boundary scan, no upload handlers: the body is
    already in memory (config.body_limit saw to that), and what the image really is, is decided by
    its content in services.snapshot_check, not by this Content-Type."""

    media_type = "image/*"

    def parse(self, stream, media_type=None, parser_context=None) -> DataAndFiles:
        limit = settings.MIMIK["FRAME_MAX_BYTES"]
        body = stream.read(limit + 1) if stream is not None else b""
        if len(body) > limit:
            raise too_large()
        headers = parser_context["request"].headers
        data = {name: headers[header] for name, header in SNAPSHOT_HEADERS.items() if header in headers}
        files = {"image": SimpleUploadedFile("snapshot", body, media_type)} if body else {}
        return DataAndFiles(data, files)


def waited_too_long_for_the_database(error: Exception) -> bool:
    """No pooled connection came free within DATABASE_POOL_TIMEOUT: the web process is saturated
    (every connection busy) or PostgreSQL is away. Either way the page should come back later."""
    return isinstance(error, OperationalError) and isinstance(error.__cause__, PoolTimeout)


class TesterApiView(APIView):
    authentication_classes: list = []
    permission_classes: list = []
    parser_classes = [RawSnapshotParser, MultiPartParser]
    rate_limit_kind = "frames"

    def handle_exception(self, exc: Exception) -> Response:
        # 503 with Retry-After, like Redis away: the tester page keeps the snapshot and sends it
        # again; a 500 would say something is broken, and clients are told not to retry those.
        if waited_too_long_for_the_database(exc):
            exc = service_unavailable()
            exc.extra = {"service": "database"}
        return super().handle_exception(exc)

    def tester(self, request: Request, token: str | None) -> Tester:
        token = token or request.headers.get(TOKEN_HEADER, "")
        return get_tester_for_upload(request._request, token, kind=self.rate_limit_kind)

    def read_image(self, request: Request, serializer_class: type) -> dict:
        """Refuse an oversized body before reading it (by its Content-Length, or because the ASGI
        body limit already stopped reading it), then parse it in memory."""
        content_length = int(request.META.get("CONTENT_LENGTH") or 0)
        if body_was_cut(request._request) or content_length > tester_body_limit():
            raise too_large()
        request._request.upload_handlers = [AlwaysInMemoryUploadHandler(request._request)]
        data = validated(serializer_class, request.data)
        image = data["image"]
        if image.size > settings.MIMIK["FRAME_MAX_BYTES"]:
            raise too_large()
        return {**data, "image_bytes": image.read()}


@functools.cache
def _kept_serializer(serializer_class: type) -> serializers.Serializer:
    serializer = serializer_class()
    serializer.fields  # noqa: B018 - bound once, here, not by the first concurrent requests
    return serializer


def validated(serializer_class: type, data) -> dict:
    """serializer_class(data=data).validated_data, through one kept instance: DRF deep-copies every
    declared field for each new serializer, a fifth of the upload's validation time. Validating
    leaves no state on the serializer (is_valid is what stores the result). Invalid data goes
    through a new serializer after all, so the errors are exactly DRF's."""
    try:
        return _kept_serializer(serializer_class).run_validation(data)
    except ValidationError:
        serializer = serializer_class(data=data)
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


TOKEN_HEADER_PARAMETER = OpenApiParameter(
    TOKEN_HEADER, str, OpenApiParameter.HEADER, required=False, description="The link token, if not in the URL."
)


def snapshot_header_parameters(*fields: tuple[str, object]) -> list[OpenApiParameter]:
    """The optional headers that carry a raw image body's fields (a multipart form has them as fields)."""
    return [
        OpenApiParameter(
            SNAPSHOT_HEADERS[name],
            kind,
            OpenApiParameter.HEADER,
            required=False,
            description=f"`{name}` of an image/jpeg or image/png body (a multipart form has it as a field).",
        )
        for name, kind in fields
    ]


FRAME_HEADER_PARAMETERS = snapshot_header_parameters(
    ("variant", OpenApiTypes.UUID),
    ("sequence", OpenApiTypes.INT),
    ("media_time_ms", OpenApiTypes.INT),
    ("captured_at", OpenApiTypes.DATETIME),
)
RAW_IMAGE_BODIES = {"image/jpeg": OpenApiTypes.BINARY, "image/png": OpenApiTypes.BINARY}
ERRORS = {
    code: OpenApiResponse(ErrorSerializer, description=description)
    for code, description in {
        400: "Invalid field, or a variant outside the tester's campaign.",
        403: "The tester has not consented.",
        404: "Unknown, expired, revoked or withdrawn link.",
        409: "The campaign is not running.",
        413: "Body over FRAME_MAX_BYTES.",
        415: "Not a JPEG or PNG by content.",
        429: "Too many requests; see Retry-After.",
        503: "The analysis queue, Redis or the database is busy or away; retry after Retry-After.",
    }.items()
}


class FrameUploadApi(TesterApiView):
    @extend_schema(
        operation_id="tester_frame_upload",
        summary="Upload one snapshot",
        description=(
            "Stores the snapshot's metadata and queues the image for analysis; answers 204 without any "
            "result. A repeated (variant, sequence) answers 204 again and is not queued twice."
        ),
        request={**RAW_IMAGE_BODIES, "multipart/form-data": FrameUploadSerializer},
        parameters=[TOKEN_HEADER_PARAMETER, *FRAME_HEADER_PARAMETERS],
        responses={204: OpenApiResponse(description="Accepted (or already accepted)."), **ERRORS},
    )
    def post(self, request: Request, token: str | None = None) -> Response:
        tester = self.tester(request, token)
        services.tester_capture_check(tester=tester)
        data = self.read_image(request, FrameUploadSerializer)
        services.frame_accept(
            tester=tester,
            variant_id=str(data["variant"]),
            sequence=data["sequence"],
            media_time_ms=data["media_time_ms"],
            captured_at=data.get("captured_at"),
            image_bytes=data["image_bytes"],
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(post=extend_schema(operation_id="tester_frame_upload_by_header"))
class FrameUploadByHeaderApi(FrameUploadApi):
    """The same upload with the token in the X-Tester-Token header instead of the URL."""


BASELINE_HEADER_PARAMETERS = snapshot_header_parameters(
    ("kind", OpenApiTypes.STR),
    ("sequence", OpenApiTypes.INT),
    ("captured_at", OpenApiTypes.DATETIME),
)


class BaselineUploadApi(TesterApiView):
    """The camera page's snapshots of the tester's own face before any advertisement: the frame
    upload's gate, size limits and rate limit (one counter with the frames), its own rows."""

    @extend_schema(
        operation_id="tester_baseline_upload",
        summary="Upload one baseline snapshot (resting face, posed smile or posed neutral face)",
        description=(
            "Stores the snapshot's metadata and queues the image for analysis; answers 204 without any "
            "result. A repeated (kind, sequence) answers 204 again and is not queued twice. Posed kinds "
            "only from testers whose consent page asked for them (else 400)."
        ),
        request={**RAW_IMAGE_BODIES, "multipart/form-data": BaselineUploadSerializer},
        parameters=[*BASELINE_HEADER_PARAMETERS],
        responses={204: OpenApiResponse(description="Accepted (or already accepted)."), **ERRORS},
    )
    def post(self, request: Request, token: str) -> Response:
        tester = self.tester(request, token)
        services.tester_capture_check(tester=tester)
        data = self.read_image(request, BaselineUploadSerializer)
        services.baseline_snapshot_accept(
            tester=tester,
            kind=data["kind"],
            sequence=data["sequence"],
            captured_at=data.get("captured_at"),
            image_bytes=data["image_bytes"],
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class CameraCheckApi(TesterApiView):
    rate_limit_kind = "camera-check"

    @extend_schema(
        operation_id="tester_camera_check",
        summary="Check one test snapshot's face and lighting",
        description="Nothing is stored; the answer says whether the snapshot would be usable.",
        request={**RAW_IMAGE_BODIES, "multipart/form-data": CameraCheckSerializer},
        parameters=[TOKEN_HEADER_PARAMETER],
        responses={200: CameraCheckResultSerializer, **ERRORS},
    )
    def post(self, request: Request, token: str | None = None) -> Response:
        tester = self.tester(request, token)
        # The camera page speaks the campaign's language (views.tester_page), so its verdicts and
        # refusals must too, not the browser's that LocaleMiddleware chose. (The upload's tester
        # holds only the campaign's id and status: reading the language costs one query, here only.)
        language = selectors.tester_language(campaign=tester.campaign, cookies=request.COOKIES)
        with translation.override(language):
            services.tester_capture_check(tester=tester)
            data = self.read_image(request, CameraCheckSerializer)
            services.snapshot_check(image_bytes=data["image_bytes"])
            verdict = frame_quality_verdict(image_bytes=data["image_bytes"])
            message = str(VERDICT_MESSAGES.get(verdict, VERDICT_MESSAGES["undecodable"]))
        response = Response({"verdict": verdict, "message": message})
        response["Content-Language"] = language  # LocaleMiddleware only sets it when absent
        return response
