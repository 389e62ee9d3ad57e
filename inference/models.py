"""The model registry and the predictions the workers store."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class ModelVersion(models.Model):
    class Framework(models.TextChoices):
        KERAS = "keras", "Keras (.keras / .h5)"
        TFLITE = "tflite", "TensorFlow Lite"

    class ColorMode(models.TextChoices):
        GRAYSCALE = "grayscale", "Grayscale"
        RGB = "rgb", "RGB"

    class Scaling(models.TextChoices):
        MINUS_ONE_TO_ONE = "minus_one_to_one", "x / 127.5 - 1"
        ZERO_TO_ONE = "zero_to_one", "x / 255"
        NONE = "none", "raw 0..255 (the model rescales itself)"

    name = models.CharField(max_length=100)
    version = models.CharField(max_length=50)
    file_path = models.CharField(max_length=500, help_text="Absolute path, or 'dist:<package>:<path in wheel>'.")
    sha256 = models.CharField(max_length=64, blank=True)
    framework = models.CharField(max_length=8, choices=Framework.choices)
    class_names = models.JSONField(help_text="Class names in the model's output order.")
    input_size = models.PositiveIntegerField()
    color_mode = models.CharField(max_length=10, choices=ColorMode.choices)
    scaling = models.CharField(max_length=20, choices=Scaling.choices)
    outputs_logits = models.BooleanField(default=False)
    source = models.TextField(blank=True, help_text="Where the model came from and what it was trained on.")
    metrics = models.JSONField(default=dict, blank=True)
    notes = models.TextField(blank=True)
    is_active = models.BooleanField(default=False, help_text="The global default for campaigns that name none.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="model_version_unique"),
            models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True), name="one_active_model"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


class Prediction(models.Model):
    """Every class probability for one frame and one model. Campaign, variant and tester are
    copied from the frame so that dashboard aggregates need no join."""

    frame = models.ForeignKey("tester_sessions.Frame", on_delete=models.CASCADE, related_name="predictions")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="predictions")
    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="+")
    variant = models.ForeignKey("campaigns.Variant", on_delete=models.CASCADE, related_name="+")
    tester = models.ForeignKey("tester_sessions.Tester", on_delete=models.CASCADE, related_name="+")
    media_time_ms = models.PositiveIntegerField()
    probabilities = models.JSONField(help_text="{class name: probability}, raw model output after softmax.")
    top_class = models.CharField(max_length=32)
    top_probability = models.FloatField()
    face_box = models.JSONField(default=list, help_text="[x, y, width, height] in frame pixels.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["frame", "model_version"], name="one_prediction_per_frame_and_model")
        ]
        indexes = [
            models.Index(fields=["campaign", "model_version", "variant", "tester"]),
        ]

    def __str__(self) -> str:
        return f"{self.top_class} {self.top_probability:.2f} (frame {self.frame_id})"
