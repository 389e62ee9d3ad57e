"""The default model's shipped calibration (inference/data/default_model_calibration.json): active on a
freshly migrated database, so the dashboard counts on calibrated probabilities and estimates shares
without anyone running calibrate_model; applied by the workers; replaced by a recalibration; refused
for any other model. Only the last test needs the labelled faces of ../shared/data."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest
from django.apps import apps as installed_apps
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from PIL import Image

from campaigns.models import Membership
from config.errors import ApplicationError
from emotion_math import calibration as calibration_math
from inference import calibrations, sample_frames
from inference.default_calibration import (
    ShippedCalibrationRefused,
    model_file_sha256,
    read_default_calibration,
    shipped_calibration_fields,
)
from inference.default_model import DEFAULT_MODEL
from inference.management.commands import calibrate_model
from inference.models import Calibration, ModelVersion, Prediction
from inference.pipeline import KNOWN_FACE_PATH
from inference.services import model_version_ensure_default
from inference.tasks import analyse_frame_now
from inference.tests.conftest import make_campaign, make_frame
from inference.tests.generated import CLASS_NAMES, generated_campaign, labelled_faces, unloadable_model

SHIPPED = read_default_calibration()
SHIPPED_VERSION = SHIPPED["parameters"]["version"]
SHARES = {"A": [0.1, 0.02, 0.1, 0.4, 0.1, 0.08, 0.2], "B": [0.1, 0.02, 0.1, 0.15, 0.35, 0.08, 0.2]}
FACES_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "faces" / "calibration"
migration = importlib.import_module("inference.migrations.0006_default_model_calibration")


@pytest.fixture
def recompute_in_process(monkeypatch):
    """The recompute task runs at once, in this process, when it is queued."""
    monkeypatch.setattr(
        calibrations.recalibrate_predictions,
        "apply_async",
        lambda args, **_options: calibrations.predictions_recalibrate(model_version_id=args[0]),
    )


def default_model() -> ModelVersion:
    return ModelVersion.objects.get(name=DEFAULT_MODEL["name"], version=DEFAULT_MODEL["version"])


def dashboard_as_owner(client, campaign) -> dict:
    owner = get_user_model().objects.create_user(username="owner", password="pw-for-tests-only")
    Membership.objects.create(user=owner, organisation=campaign.organisation)
    client.force_login(owner)
    response = client.get(f"/api/campaigns/{campaign.pk}/dashboard/")
    assert response.status_code == 200
    return response.json()


@pytest.mark.django_db
def test_a_freshly_migrated_installation_counts_on_the_shipped_calibration_and_estimates_shares(client):
    model = default_model()
    calibration = Calibration.objects.get(model_version=model, is_active=True)
    assert calibration.version == SHIPPED_VERSION
    assert calibration.source == "FER2013 PublicTest"
    assert calibration.faces == SHIPPED["fitted_on"]["faces"] == len(calibration.calibration_set["labels"])
    generated = generated_campaign(model, variant_shares=SHARES, testers=8, frames_per_tester=12, seed=4)
    # What the workers store for these frames: raw and calibrated values (see the worker test below).
    calibrations.predictions_recalibrate(model_version_id=model.pk)

    data = dashboard_as_owner(client, generated.campaign)

    assert data["calibration"]["state"] == "calibrated"
    assert (data["calibration"]["version"], data["calibration"]["faces"]) == (SHIPPED_VERSION, calibration.faces)
    assert data["calibration"]["stale_frames"] == 0
    assert [row["class_name"] for row in data["counting_quality"]] == list(CLASS_NAMES)
    shares = data["estimated_shares"]
    assert shares["testers"] == 8
    for variant in shares["variants"]:
        assert sum(row["share"] for row in variant["classes"]) == pytest.approx(1.0, abs=1e-6)
        assert all(row["low"] <= row["share"] <= row["high"] for row in variant["classes"])
    assert len(shares["comparisons"]) == len(CLASS_NAMES)


@pytest.mark.django_db
def test_a_frame_the_workers_analyse_gets_the_shipped_calibrations_fields():
    _campaign, variant, tester = make_campaign()  # no model named: the active default model
    frame = make_frame(tester, variant, 0)

    assert analyse_frame_now(frame_id=frame.pk, image_bytes=sample_frames.face_jpeg()) == "prediction"

    prediction = Prediction.objects.get(frame=frame)
    assert prediction.model_version == default_model()
    assert prediction.calibration_version == SHIPPED_VERSION
    raw = calibration_math.probabilities_matrix([prediction.probabilities], CLASS_NAMES)
    expected = calibration_math.apply_calibration(raw, SHIPPED["parameters"])[0]
    stored = calibration_math.probabilities_matrix([prediction.calibrated_probabilities], CLASS_NAMES)[0]
    np.testing.assert_allclose(stored, expected, atol=2e-6)
    assert prediction.calibrated_top_class == "happy"  # the smiling astronaut


@pytest.mark.django_db
def test_recalibrating_replaces_the_shipped_calibration_and_it_does_not_come_back(
    monkeypatch, recompute_in_process, django_capture_on_commit_callbacks, tmp_path, client
):
    model = default_model()
    generated = generated_campaign(model, variant_shares=SHARES, testers=4, frames_per_tester=5, seed=2)
    calibrations.predictions_recalibrate(model_version_id=model.pk)
    monkeypatch.setattr(calibrate_model, "raw_probabilities_for", lambda *_args: labelled_faces(200, seed=5))

    with django_capture_on_commit_callbacks(execute=True):
        call_command("calibrate_model", "--model-version", str(model.pk), "--faces-dir", str(tmp_path))
    model_version_ensure_default()

    active = Calibration.objects.get(model_version=model, is_active=True)
    assert active.version != SHIPPED_VERSION and active.faces == 1400
    assert not Calibration.objects.get(model_version=model, version=SHIPPED_VERSION).is_active
    stored_versions = set(Prediction.objects.filter(model_version=model).values_list("calibration_version", flat=True))
    assert stored_versions == {active.version}
    assert dashboard_as_owner(client, generated.campaign)["calibration"]["version"] == active.version


@pytest.mark.django_db
def test_the_shipped_calibration_is_refused_for_a_model_that_is_not_the_one_it_was_fitted_on():
    identity = {
        "name": DEFAULT_MODEL["name"],
        "version": DEFAULT_MODEL["version"],
        "class_names": list(CLASS_NAMES),
        "file_sha256": model_file_sha256(DEFAULT_MODEL["file_path"]),
    }
    assert shipped_calibration_fields(SHIPPED, **identity)["version"] == SHIPPED_VERSION
    for changed in ({"file_sha256": "0" * 64}, {"file_sha256": None}, {"class_names": list(reversed(CLASS_NAMES))}):
        with pytest.raises(ShippedCalibrationRefused):
            shipped_calibration_fields(SHIPPED, **{**identity, **changed})

    other = unloadable_model()
    with pytest.raises(ApplicationError):
        calibrations.calibration_install_default(model_version=other)
    assert not Calibration.objects.filter(model_version=other).exists()

    # The migration leaves a default model alone whose file is not the one the numbers came from.
    model = default_model()
    Calibration.objects.filter(model_version=model).delete()
    ModelVersion.objects.filter(pk=model.pk).update(file_path=str(KNOWN_FACE_PATH))
    migration.install_default_calibration(installed_apps, None)
    assert not Calibration.objects.filter(model_version=model).exists()
    # Nor does ensure_default install it; the model still serves, uncalibrated.
    assert model_version_ensure_default() == model
    assert not Calibration.objects.filter(model_version=model).exists()
    ModelVersion.objects.filter(pk=model.pk).update(file_path=DEFAULT_MODEL["file_path"])
    migration.install_default_calibration(installed_apps, None)
    assert Calibration.objects.get(model_version=model, is_active=True).version == SHIPPED_VERSION


def test_write_data_file_writes_a_calibration_the_installation_accepts(monkeypatch, tmp_path):
    probabilities, labels = labelled_faces(150, seed=9)
    monkeypatch.setattr(
        calibrate_model,
        "worker_path_probabilities_for",
        lambda *_args, **_options: (probabilities, labels, {"faces_given": 1060, "dropped": {"no_face": 10}}),
    )
    written = tmp_path / "calibration.json"
    with pytest.raises(CommandError, match="--dataset and --split"):
        call_command("calibrate_model", "--write-data-file", str(written), "--faces-dir", str(tmp_path))

    call_command(
        "calibrate_model", "--write-data-file", str(written), "--faces-dir", str(tmp_path),
        "--dataset", "Generated", "--split", "all",
    )  # fmt: skip

    document = read_default_calibration(written)
    assert document["model"]["sha256"] == model_file_sha256(DEFAULT_MODEL["file_path"])
    assert (document["fitted_on"]["faces_given"], document["fitted_on"]["faces"]) == (1060, 1050)
    assert document["held_out"]["check"]["ece_after"] < document["held_out"]["check"]["ece_before"]
    fields = shipped_calibration_fields(
        document,
        name=DEFAULT_MODEL["name"],
        version=DEFAULT_MODEL["version"],
        class_names=list(CLASS_NAMES),
        file_sha256=model_file_sha256(DEFAULT_MODEL["file_path"]),
    )
    assert fields["source"] == "Generated all" and fields["faces"] == 1050
    np.testing.assert_allclose(fields["calibration_set"]["raw_probabilities"], probabilities, atol=1e-6)
    # Fitted on all the faces, as the shipped file is.
    expected = calibration_math.fit_calibration(probabilities, labels, class_names=CLASS_NAMES)
    assert fields["parameters"]["version"] == expected["version"]


@pytest.mark.skipif(not FACES_DIR.is_dir(), reason="needs the labelled faces of ../shared/data/faces/calibration")
def test_the_shipped_numbers_are_what_the_workers_path_gives_on_the_calibration_faces(settings):
    """The first faces of two emotions again through the command's own path: the same raw
    probabilities as the file's rows for those faces (a face's frame depends on its place only)."""
    from inference.classifier import EmotionClassifier, predict_in_batches
    from inference.pipeline import spec_for
    from inference.worker_faces import worker_faces

    model = ModelVersion(**DEFAULT_MODEL)
    classifier = EmotionClassifier(spec_for(model))
    shipped = np.asarray(SHIPPED["calibration_set"]["raw_probabilities_millionths"]) / 1e6
    shipped_labels = np.asarray(SHIPPED["calibration_set"]["labels"])
    for name in ("happy", "sad"):
        label = CLASS_NAMES.index(name)
        paths = sorted(path for path in (FACES_DIR / name).iterdir() if path.suffix == ".png")[:12]
        faces = [np.asarray(Image.open(path)) for path in paths]
        taken = worker_faces(faces, np.full(len(faces), label), input_size=model.input_size, seed=0)
        again = predict_in_batches(classifier, taken.crops)
        np.testing.assert_allclose(again, shipped[shipped_labels == label][: len(again)], atol=1e-4)
