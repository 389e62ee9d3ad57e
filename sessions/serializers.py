"""Input of the snapshot upload and camera-check endpoints."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers


class FrameUploadSerializer(serializers.Serializer):
    image = serializers.FileField(help_text=_("One JPEG (or PNG) snapshot, at most FRAME_MAX_BYTES."))
    variant = serializers.UUIDField(help_text=_("The variant on screen when the snapshot was taken."))
    sequence = serializers.IntegerField(min_value=0, max_value=2_000_000_000)
    media_time_ms = serializers.IntegerField(
        min_value=0, max_value=2_000_000_000, help_text=_("Video currentTime, or time since the image appeared.")
    )
    captured_at = serializers.DateTimeField(required=False, allow_null=True)


class CameraCheckSerializer(serializers.Serializer):
    image = serializers.FileField()


class CameraCheckResultSerializer(serializers.Serializer):
    verdict = serializers.CharField(help_text=_("'ok', or why the snapshot would not be usable."))
    message = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    message = serializers.CharField()
    extra = serializers.DictField()
