"""A tester is pseudonymous: a random id, linked to an invitation only while they take part."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _


class Tester(models.Model):
    class Camera(models.TextChoices):
        UNKNOWN = "unknown", _("Not asked yet")
        GRANTED = "granted", _("Camera on")
        DENIED = "denied", _("Camera denied: survey only")
        UNAVAILABLE = "unavailable", _("No camera: survey only")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="testers")
    invitation = models.OneToOneField(
        "campaigns.Invitation", on_delete=models.SET_NULL, null=True, blank=True, related_name="tester"
    )
    # Open-link testers get a token of their own; invited testers use their invitation's token.
    token_hash = models.CharField(max_length=64, unique=True)
    consent_version = models.ForeignKey(
        "campaigns.ConsentVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    consented_at = models.DateTimeField(null=True, blank=True)
    declined_at = models.DateTimeField(null=True, blank=True)
    camera = models.CharField(max_length=12, choices=Camera.choices, default=Camera.UNKNOWN)
    # Variant ids in the order this tester sees them, and the row of the Latin square it came from.
    variant_order = models.JSONField(default=list)
    order_slot = models.PositiveIntegerField(default=0)
    # Progress through variant_order: watching variant i while viewed_count == answered_count == i,
    # answering its survey while viewed_count == i + 1. Two counters make a reload land on the same step.
    viewed_count = models.PositiveSmallIntegerField(default=0)
    answered_count = models.PositiveSmallIntegerField(default=0)
    completed_at = models.DateTimeField(null=True, blank=True)
    # Whether the consent page this tester agreed to asked for a posed smile and a posed neutral
    # face: the camera page asks for them only then (and while the campaign still wants them).
    posed_expressions = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["campaign", "order_slot"])]

    def __str__(self) -> str:
        return f"tester {str(self.id)[:8]}"


class Frame(models.Model):
    """One accepted snapshot. It always ends in exactly one outcome; the image itself is not kept
    unless the campaign opted in (then `kept_image` is set until `retain_until`)."""

    class Outcome(models.TextChoices):
        PENDING = "pending", _("Waiting for analysis")
        PREDICTION = "prediction", _("Emotion predicted")
        NO_FACE = "no_face", _("No face")
        MULTIPLE_FACES = "multiple_faces", _("Several faces")
        FACE_TOO_SMALL = "face_too_small", _("Face too small")
        TOO_DARK = "too_dark", _("Too dark")
        OVEREXPOSED = "overexposed", _("Overexposed")
        BLURRED = "blurred", _("Blurred")
        UNDECODABLE = "undecodable", _("Not a readable image")
        EXPIRED = "expired", _("Waited too long in the queue")

    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="frames")
    tester = models.ForeignKey(Tester, on_delete=models.CASCADE, related_name="frames")
    variant = models.ForeignKey("campaigns.Variant", on_delete=models.CASCADE, related_name="frames")
    sequence = models.PositiveIntegerField()
    media_time_ms = models.PositiveIntegerField()
    captured_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)
    byte_size = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.PENDING)
    outcome_at = models.DateTimeField(null=True, blank=True)
    # Quality figures measured on the face (luminance, sharpness, face size, detector score).
    quality = models.JSONField(default=dict, blank=True)
    # How far the found face was turned left or right, in degrees (emotion_math.head_turn); null
    # when no single face was found.
    head_turn_degrees = models.FloatField(null=True, blank=True)
    kept_image = models.FileField(upload_to="frames/%Y/%m/%d/", null=True, blank=True)
    retain_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tester", "variant", "sequence"], name="frame_once_per_sequence")
        ]
        indexes = [
            models.Index(fields=["campaign", "outcome"]),
            models.Index(fields=["outcome", "received_at"]),
        ]

    def __str__(self) -> str:
        return f"frame {self.pk} ({self.outcome})"


class FrameOutcomeCount(models.Model):
    """How many of a tester's frames ended in each outcome, kept by PostgreSQL triggers on the frames
    (migration tester_sessions 0004) whatever writes them: the dashboard's funnel reads a few rows
    per tester rather than counting every frame of the campaign. Pending frames are not counted
    here: the funnel counts them from the frames (few wait at a time), so an upload writes one row."""

    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="+", db_index=False)
    tester = models.ForeignKey(Tester, on_delete=models.CASCADE, related_name="+")
    outcome = models.CharField(max_length=16, choices=Frame.Outcome.choices)
    frames = models.IntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "tester", "outcome"], name="frame_outcome_count_unique")
        ]

    def __str__(self) -> str:
        return f"{self.frames} {self.outcome} frames of {self.tester_id}"


class SurveyAnswer(models.Model):
    tester = models.ForeignKey(Tester, on_delete=models.CASCADE, related_name="answers")
    variant = models.ForeignKey("campaigns.Variant", on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey("campaigns.SurveyQuestion", on_delete=models.CASCADE, related_name="answers")
    rating = models.SmallIntegerField(null=True, blank=True)
    comment = models.TextField(blank=True)
    answered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tester", "variant", "question"], name="answer_once_per_question")
        ]

    def __str__(self) -> str:
        return f"answer to {self.question_id} by {self.tester_id}"


class ScreenerAnswer(models.Model):
    """A tester's answer to a screener question: the text of the choice they picked, once."""

    tester = models.ForeignKey(Tester, on_delete=models.CASCADE, related_name="screener_answers")
    question = models.ForeignKey("campaigns.ScreenerQuestion", on_delete=models.CASCADE, related_name="answers")
    choice = models.CharField(max_length=100)
    answered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tester", "question"], name="screener_answer_once_per_question")]

    def __str__(self) -> str:
        return f"screener answer to {self.question_id} by {self.tester_id}"


class BaselineSnapshot(models.Model):
    """A snapshot of the tester's own face taken on the camera page, before any advertisement: at
    rest and, if the campaign asks for them, a posed smile and a posed neutral face. Not a frame of
    any variant: the dashboard compares each tester's reactions with their own resting face and
    checks how well the model reads them. It ends in exactly one outcome, like a frame; the
    probabilities are stored on the row (raw and calibrated, with the model version). The image is
    never kept, whatever the campaign keeps of its frames."""

    class Kind(models.TextChoices):
        RESTING = "resting", _("Resting face")
        POSED_SMILE = "posed_smile", _("Posed smile")
        POSED_NEUTRAL = "posed_neutral", _("Posed neutral face")

    Outcome = Frame.Outcome

    campaign = models.ForeignKey("campaigns.Campaign", on_delete=models.CASCADE, related_name="+")
    tester = models.ForeignKey(Tester, on_delete=models.CASCADE, related_name="baseline_snapshots")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    sequence = models.PositiveSmallIntegerField()
    captured_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    byte_size = models.PositiveIntegerField(default=0)
    outcome = models.CharField(max_length=16, choices=Frame.Outcome.choices, default=Frame.Outcome.PENDING)
    outcome_at = models.DateTimeField(null=True, blank=True)
    quality = models.JSONField(default=dict, blank=True)
    model_version = models.ForeignKey(
        "inference.ModelVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    probabilities = models.JSONField(null=True, blank=True, help_text="{class name: probability}, raw.")
    top_class = models.CharField(max_length=32, blank=True, default="")
    top_probability = models.FloatField(null=True, blank=True)
    face_box = models.JSONField(default=list, blank=True)
    calibration_version = models.CharField(max_length=64, blank=True, default="")
    calibrated_probabilities = models.JSONField(null=True, blank=True)
    calibrated_top_class = models.CharField(max_length=32, blank=True, default="")
    calibrated_top_probability = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tester", "kind", "sequence"], name="baseline_once_per_sequence")
        ]
        indexes = [models.Index(fields=["campaign", "kind"])]

    def __str__(self) -> str:
        return f"{self.kind} snapshot {self.pk} ({self.outcome})"
