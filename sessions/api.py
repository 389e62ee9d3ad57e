"""The tester's API: one snapshot per request. The link token is the
credential (in the URL or the X-Tester-Token header), so there is no session or CSRF here.

A snapshot comes either as the request body itself (`Content-Type: image/jpeg` or `image/png`, the
other fields in X-Snapshot-* headers: what the tester page sends, the cheapest to parse) or as a
multipart form (`image` plus the fields), for clients that prefer forms."""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.parsers import BaseParser, DataAndFiles, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import ApplicationError, service_unavailable
from sessions import services
from sessions.access import get_tester_for_upload
from sessions.models import Tester
from sessions.serializers import (
    BaselineUploadSerializer,
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


def too_large() -> ApplicationError:
    limit = settings.MIMIK["FRAME_MAX_BYTES"]
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    return ApplicationError(_("The snapshot is too large."), extra={"max_bytes": limit}, status_code=status_code)


class RawSnapshotParser(BaseParser):
    """The body is the image itself (what a canvas' toBlob gives the page); the other fields come
    from the X-Snapshot-* headers. What the image really is, is decided by its content in
    services.snapshot_check, not by this Content-Type."""

    media_type = "image/*"

    def parse(self, stream, media_type=None, parser_context=None) -> DataAndFiles:
        body = stream.read() if stream is not None else b""
        headers = parser_context["request"].headers
        data = {name: headers[header] for name, header in SNAPSHOT_HEADERS.items() if header in headers}
        files = {"image": SimpleUploadedFile("snapshot", body, media_type)} if body else {}
        return DataAndFiles(data, files)


class TesterApiView(APIView):
    authentication_classes: list = []
    permission_classes: list = []
    parser_classes = [RawSnapshotParser, MultiPartParser]
    rate_limit_kind = "frames"

    def handle_exception(self, exc: Exception) -> Response:
        # PostgreSQL away (a restart, a failover): 503 with Retry-After, like Redis away. The tester
        # page keeps the snapshot and sends it again; a 500 would say something is broken, and
        # clients are told not to retry those.
        if isinstance(exc, OperationalError):
            exc = service_unavailable()
            exc.extra = {"service": "database"}
        return super().handle_exception(exc)

    def admit(self, request: Request, token: str | None) -> Tester:
        """The one gate of every tester API request, passed before any of the body is read: a
        declared length of at most FRAME_MAX_BYTES (a multipart form's fields count too), then
        sessions.access.get_tester_for_upload (the link, the rate limit, consent and a running
        campaign). Django reads no further than Content-Length, so the body needs no counting after
        this; and with FRAME_MAX_BYTES below FILE_UPLOAD_MAX_MEMORY_SIZE (the defaults), a form's
        image stays in memory too."""
        declared = request.META.get("CONTENT_LENGTH", "")
        if not declared.isdigit():  # a chunked body, whose size is only known once it has been read
            raise ApplicationError(
                _("A snapshot must be sent with its Content-Length."), status_code=status.HTTP_411_LENGTH_REQUIRED
            )
        if int(declared) > settings.MIMIK["FRAME_MAX_BYTES"]:
            raise too_large()
        token = token or request.headers.get(TOKEN_HEADER, "")
        return get_tester_for_upload(request._request, token, kind=self.rate_limit_kind)

    def snapshot(self, request: Request, serializer_class: type[serializers.Serializer]) -> dict:
        """The request's fields, validated, and the image's bytes as `image_bytes`."""
        serializer = serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        return {**serializer.validated_data, "image_bytes": serializer.validated_data["image"].read()}


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
        411: "No Content-Length (a chunked body).",
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
        tester = self.admit(request, token)
        data = self.snapshot(request, FrameUploadSerializer)
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
        tester = self.admit(request, token)
        data = self.snapshot(request, BaselineUploadSerializer)
        services.baseline_snapshot_accept(
            tester=tester,
            kind=data["kind"],
            sequence=data["sequence"],
            captured_at=data.get("captured_at"),
            image_bytes=data["image_bytes"],
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
