"""Input of the snapshot upload, baseline and camera-check endpoints."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from sessions.models import BaselineSnapshot


@extend_schema_field(OpenApiTypes.BINARY)
class SnapshotField(serializers.FileField):
    """A file in the request body; described as binary, since it is never a URL here."""


class FrameUploadSerializer(serializers.Serializer):
    image = SnapshotField(help_text=_("One JPEG (or PNG) snapshot, at most FRAME_MAX_BYTES."))
    variant = serializers.UUIDField(help_text=_("The variant on screen when the snapshot was taken."))
    sequence = serializers.IntegerField(min_value=0, max_value=2_000_000_000)
    media_time_ms = serializers.IntegerField(
        min_value=0, max_value=2_000_000_000, help_text=_("Video currentTime, or time since the image appeared.")
    )
    captured_at = serializers.DateTimeField(required=False, allow_null=True)


class BaselineUploadSerializer(serializers.Serializer):
    image = SnapshotField(help_text=_("One JPEG (or PNG) snapshot, at most FRAME_MAX_BYTES."))
    kind = serializers.ChoiceField(
        choices=BaselineSnapshot.Kind.choices,
        help_text=_("The resting face, or (when the campaign asks for them) a posed smile or neutral face."),
    )
    sequence = serializers.IntegerField(min_value=0, max_value=2_000_000_000)
    captured_at = serializers.DateTimeField(required=False, allow_null=True)


class CameraCheckSerializer(serializers.Serializer):
    image = SnapshotField()


class CameraCheckResultSerializer(serializers.Serializer):
    verdict = serializers.CharField(help_text=_("'ok', or why the snapshot would not be usable."))
    message = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    message = serializers.CharField()
    extra = serializers.DictField()
