"""The whole chain on generated images: prepare, train 2 epochs, evaluate, register, and serve a
real face frame through a real Celery worker with the registered model."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest

from campaigns.models import Campaign, Organisation, Variant
from inference.models import ModelVersion, Prediction
from inference.sample_frames import face_jpeg
from ml.evaluate import main as evaluate_main
from ml.register import main as register_main
from sessions import models as session_models
from sessions.analysis_queue import frame_submit_for_analysis
from sessions.models import Frame


@pytest.mark.django_db(transaction=True)
def test_prepare_train_evaluate_register_and_serve(trained_run: Path, prepared_data: Path, celery_worker):
    evaluate_main([str(trained_run), str(prepared_data)])
    licence = "Generated cartoon faces (ml/tests/synthetic.py); no licence needed"
    register_main(
        [str(trained_run), "--name", "synthetic-happy-sad", "--version", "e2e", "--training-data-licence", licence]
    )

    model_version = ModelVersion.objects.get(name="synthetic-happy-sad", version="e2e")
    assert model_version.class_names == ["happy", "sad"]
    assert (model_version.framework, model_version.input_size, model_version.scaling) == ("keras", 32, "none")
    assert model_version.outputs_logits is True
    assert model_version.file_path == str(trained_run.resolve() / "model.keras")
    assert model_version.metrics["test"]["images"] == 16
    assert model_version.metrics["validation"]["batch_size"] == 16
    assert model_version.is_active is False
    assert f"Licence status: {licence}" in model_version.model_card
    assert (trained_run / "MODEL_CARD.md").read_text() == model_version.model_card

    organisation = Organisation.objects.create(name="Study lab")
    campaign = Campaign.objects.create(
        organisation=organisation, name="Own model", status=Campaign.Status.RUNNING, model_version=model_version
    )
    variant = Variant.objects.create(campaign=campaign, label="A", kind=Variant.Kind.IMAGE, file="variants/a.jpg")
    tester = session_models.Tester.objects.create(
        campaign=campaign, token_hash=uuid.uuid4().hex, camera=session_models.Tester.Camera.GRANTED
    )
    frame = Frame.objects.create(
        campaign=campaign, tester=tester, variant=variant, sequence=0, media_time_ms=0, byte_size=1
    )
    frame_submit_for_analysis(frame_id=frame.pk, image_bytes=face_jpeg())

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        frame.refresh_from_db(fields=["outcome"])
        if frame.outcome != Frame.Outcome.PENDING:
            break
        time.sleep(0.2)
    assert frame.outcome == Frame.Outcome.PREDICTION, celery_worker.log()
    prediction = Prediction.objects.get(frame=frame)
    assert prediction.model_version == model_version
    assert set(prediction.probabilities) == {"happy", "sad"}
    assert sum(prediction.probabilities.values()) == pytest.approx(1.0, abs=1e-4)
    assert prediction.top_class in {"happy", "sad"}
