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
    model_card = models.TextField(
        blank=True, help_text="Markdown model card (ml.model_card): training data, licence, figures, limits."
    )
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
    # A cache of the active calibration applied to `probabilities`, which stay raw: a new
    # calibration rewrites these from the raw values without running the model again.
    calibration_version = models.CharField(
        max_length=64, blank=True, default="", help_text="Calibration.version the calibrated fields come from."
    )
    calibrated_probabilities = models.JSONField(null=True, blank=True, help_text="{class name: probability}.")
    calibrated_top_class = models.CharField(max_length=32, blank=True, default="")
    calibrated_top_probability = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["frame", "model_version"], name="one_prediction_per_frame_and_model")
        ]
        indexes = [
            models.Index(fields=["campaign", "model_version", "variant", "tester"]),
            # The dashboard's per-tester counts on calibrated values become index-only scans
            # (INCLUDE is PostgreSQL-only; other databases get the plain index).
            models.Index(
                fields=["campaign", "model_version", "tester", "variant"],
                include=["calibration_version", "calibrated_top_class", "calibrated_top_probability"],
                name="prediction_calibrated_counts",
            ),
            # With every prediction current, the dashboard counts only the frames at or above
            # the threshold (a few per cent at the usual thresholds): a range of this index.
            models.Index(
                fields=["campaign", "model_version", "calibrated_top_probability"],
                include=["calibrated_top_class", "tester", "variant", "media_time_ms"],
                name="prediction_confident",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.top_class} {self.top_probability:.2f} (frame {self.frame_id})"


class CalibratedSum(models.Model):
    """Sum of one calibrated class probability over a tester's predictions on a variant, per model
    version and calibration version, so the dashboard's mean calibrated probabilities read ~7 rows
    per (tester, variant) instead of taking every prediction's JSON apart.

    Maintained by PostgreSQL triggers on inference_prediction (migration 0004), in the statement
    that writes the predictions: every INSERT, UPDATE (the recompute's bulk_update) and DELETE
    (a withdrawal's cascade) adds or subtracts its rows, whoever issues it. Sums are exact decimals
    (the calibrated probabilities are stored rounded to 6 places), so adding and subtracting never
    drifts. `frames` counts the predictions that have this class in their calibrated probabilities;
    the row with the empty class name counts every prediction of the version, with or without them
    (the dashboard's count of stale frames).
    `calibrated_sums_rebuild` (inference.calibrations) recomputes them from the predictions."""

    # The unique constraint below leads with the campaign; no separate index for it.
    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="+", db_index=False)
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    calibration_version = models.CharField(max_length=64, blank=True, default="")
    tester = models.ForeignKey("tester_sessions.Tester", on_delete=models.CASCADE, related_name="+")
    variant = models.ForeignKey("campaigns.Variant", on_delete=models.CASCADE, related_name="+")
    class_name = models.CharField(max_length=32)
    frames = models.PositiveIntegerField()
    total = models.DecimalField(max_digits=30, decimal_places=12)

    class Meta:
        constraints = [
            # Also the dashboard's index: one campaign, model and calibration version at a time.
            models.UniqueConstraint(
                fields=["campaign", "model_version", "calibration_version", "tester", "variant", "class_name"],
                name="calibrated_sum_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.class_name} sum {self.total} over {self.frames} frames"


class MediaTimeFrames(models.Model):
    """How many predictions of a model version a variant has at each media time, kept by the same
    triggers as CalibratedSum: the frames per bin of the dashboard's video timeline, whatever the
    bin width, without reading every prediction."""

    # The unique constraint below leads with the campaign; no separate index for it.
    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="+", db_index=False)
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    variant = models.ForeignKey("campaigns.Variant", on_delete=models.CASCADE, related_name="+")
    media_time_ms = models.PositiveIntegerField()
    frames = models.PositiveIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "model_version", "variant", "media_time_ms"], name="media_time_frames_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.frames} frames at {self.media_time_ms} ms"


class Calibration(models.Model):
    """A fitted mapping from a model version's raw probabilities to calibrated ones (see
    ml/calibration.py), with what the dashboard needs to say how well the model counts and to
    estimate emotion shares. At most one is active per model version."""

    class Method(models.TextChoices):
        TEMPERATURE = "temperature", "Temperature scaling"
        PER_CLASS_TEMPERATURE = "per_class_temperature", "Per-class temperature"
        VECTOR_SCALING = "vector_scaling", "Vector scaling"

    class TestTimeAugmentation(models.TextChoices):
        # The workers classify the face as it is; "mirror" would need them to average the mirror too.
        NONE = "none", "None"
        MIRROR = "mirror", "Mirror (face and mirror image averaged)"

    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="calibrations")
    version = models.CharField(max_length=64, help_text="Digest of the parameters (emotion_math.calibration).")
    method = models.CharField(max_length=32, choices=Method.choices)
    test_time_augmentation = models.CharField(
        max_length=8, choices=TestTimeAugmentation.choices, default=TestTimeAugmentation.NONE
    )
    parameters = models.JSONField(help_text="Input of emotion_math.calibration.apply_calibration.")
    quantifier = models.JSONField(help_text="emotion_math.shares.fit_quantifier on the calibrated faces.")
    calibration_set = models.JSONField(
        help_text="{'raw_probabilities': [[...]], 'labels': [...]} of the labelled faces; no images."
    )
    metrics = models.JSONField(default=dict, blank=True, help_text="Held-out figures before and after.")
    faces = models.PositiveIntegerField()
    split_seed = models.IntegerField(default=0)
    source = models.TextField(blank=True, help_text="Which labelled faces it was fitted on.")
    is_active = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["model_version", "version"], name="calibration_version_unique"),
            models.UniqueConstraint(
                fields=["model_version"], condition=Q(is_active=True), name="one_active_calibration_per_model"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model_version} calibration {self.version}"
