"""The second opinion: the facex model scores the primary's face crops on its own
queue, through a real worker, Redis and PostgreSQL; the verdict on hand-made predictions."""

from __future__ import annotations

import pytest
import redis
from django.conf import settings
from django.core.management import call_command

from campaigns.models import Campaign, Variant
from inference import sample_frames
from inference.models import ModelVersion, Prediction
from inference.pipeline import inspect_image
from inference.quality import Thresholds
from inference.second_opinion.model import SECOND_OPINION_MODEL
from inference.second_opinion.services import (
    decode_face_crop,
    encode_face_crop,
    prediction_record_second_opinion,
    queue_second_opinion,
    second_opinion_model_ensure,
)
from inference.second_opinion.verdict import second_opinion_verdict
from inference.services import model_version_ensure_default
from inference.tests.conftest import make_campaign, make_frame, wait_until
from sessions import models as session_models
from sessions.analysis_queue import frame_submit_for_analysis


def _face_crop():
    analysis, crop = inspect_image(sample_frames.face_jpeg(), thresholds=Thresholds.from_settings(), min_crop_px=64)
    assert analysis.outcome == "prediction" and crop is not None
    return crop


@pytest.mark.django_db
def test_the_second_model_registers_once_answers_happy_and_is_not_made_active():
    primary = model_version_ensure_default()
    second = second_opinion_model_ensure()
    assert second_opinion_model_ensure().pk == second.pk
    assert ModelVersion.objects.filter(name=SECOND_OPINION_MODEL["name"]).count() == 1
    assert second.metrics["known_face"]["top_class"] == "happy"
    assert not ModelVersion.objects.get(pk=second.pk).is_active
    assert ModelVersion.objects.get(pk=primary.pk).is_active


@pytest.mark.django_db
def test_command_turns_the_second_opinion_on_and_off():
    campaign, _variant, _tester = make_campaign()
    call_command("enable_second_opinion", "--campaign", str(campaign.pk))
    campaign.refresh_from_db()
    assert campaign.second_model_version.name == SECOND_OPINION_MODEL["name"]
    call_command("enable_second_opinion", "--campaign", str(campaign.pk), "--disable")
    campaign.refresh_from_db()
    assert campaign.second_model_version_id is None


def test_the_crop_travels_as_a_small_gray_png():
    payload = encode_face_crop(_face_crop())
    crop = decode_face_crop(payload)
    assert crop.ndim == 2 and max(crop.shape) <= 96
    assert len(payload) < 16_000
    assert decode_face_crop("not base64!") is None


@pytest.mark.django_db(transaction=True)
def test_the_message_goes_to_the_second_opinion_queue():
    from config.celery import SECOND_OPINION_QUEUE, app

    app.control.purge()
    campaign, variant, tester = make_campaign()
    frame = make_frame(tester, variant, 0)
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    before = {queue: client.llen(queue) for queue in ("inference", "default", SECOND_OPINION_QUEUE)}
    queue_second_opinion(frame_id=frame.pk, model_version_id=1, face_crop=_face_crop())
    try:
        assert client.llen(SECOND_OPINION_QUEUE) == before[SECOND_OPINION_QUEUE] + 1
        assert client.llen("inference") == before["inference"]
        assert client.llen("default") == before["default"]
    finally:
        app.control.purge()


def test_a_frame_ends_with_one_prediction_per_model_through_a_real_worker(celery_worker):
    primary = model_version_ensure_default()
    second = second_opinion_model_ensure()
    campaign, variant, tester = make_campaign()
    Campaign.objects.filter(pk=campaign.pk).update(second_model_version=second)
    frame = make_frame(tester, variant, 0)

    # Only the primary analysis is queued: the primary worker sends its crop to the second model.
    frame_submit_for_analysis(frame_id=frame.pk, image_bytes=sample_frames.face_jpeg())
    wait_until(lambda: Prediction.objects.filter(frame=frame).count() == 2, message=celery_worker.log())
    crop = _face_crop()

    predictions = {p.model_version_id: p for p in Prediction.objects.filter(frame=frame)}
    assert set(predictions) == {primary.pk, second.pk}
    opinion = predictions[second.pk]
    assert set(opinion.probabilities) == set(SECOND_OPINION_MODEL["class_names"])
    assert abs(sum(opinion.probabilities.values()) - 1) < 0.01
    assert opinion.top_class == "happy"
    assert (opinion.campaign_id, opinion.variant_id, opinion.tester_id) == (campaign.pk, variant.pk, tester.pk)
    assert opinion.face_box == predictions[primary.pk].face_box
    assert opinion.calibration_version == "" and opinion.calibrated_probabilities is None

    # A redelivered or repeated message stores nothing more.
    queue_second_opinion(frame_id=frame.pk, model_version_id=second.pk, face_crop=crop)
    queue_second_opinion(frame_id=frame.pk, model_version_id=second.pk, face_crop=crop)
    wait_until(
        lambda: celery_worker.log().count("inference.second_opinion[") >= 6,  # received + succeeded, 3 times
        message=celery_worker.log(),
    )
    assert Prediction.objects.filter(frame=frame).count() == 2
    assert "succeeded" in celery_worker.log() and "Traceback" not in celery_worker.log()
    assert prediction_record_second_opinion(frame_id=frame.pk, model_version_id=second.pk, face_crop=crop) is False


# --- The verdict -------------------------------------------------------------------------------

PRIMARY_CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
SECOND_CLASSES = SECOND_OPINION_MODEL["class_names"]  # "sadness", "surprised", "anger" ...


def _models() -> tuple[ModelVersion, ModelVersion]:
    common = {"framework": "tflite", "input_size": 64, "color_mode": "grayscale", "scaling": "zero_to_one"}
    primary = ModelVersion.objects.create(
        name="primary", version="1", file_path="/x", class_names=PRIMARY_CLASSES, **common
    )
    second = ModelVersion.objects.create(
        name="second", version="1", file_path="/y", class_names=SECOND_CLASSES, **common
    )
    return primary, second


def _scored_campaign(second_scores: dict[str, list[str]]):
    """Two variants, three testers with 2 frames on each. Under the primary model, A is happier
    (A: both frames happy, B: one); the second model's top classes per variant come from
    `second_scores` (one entry per frame, the same for every tester)."""
    primary, second = _models()
    campaign, variant_a, tester = make_campaign(min_frames_per_tester=2, model_version=primary)
    Campaign.objects.filter(pk=campaign.pk).update(second_model_version=second)
    campaign.refresh_from_db()
    variant_b = Variant.objects.create(campaign=campaign, label="B", kind="image", file="variants/b.jpg", position=1)
    testers = [tester] + [
        session_models.Tester.objects.create(campaign=campaign, token_hash=f"token-{i}", camera="granted")
        for i in range(2)
    ]
    primary_scores = {"A": ["happy", "happy"], "B": ["happy", "neutral"]}
    sequence = 0
    for person in testers:
        for variant in (variant_a, variant_b):
            for index in range(2):
                frame = make_frame(person, variant, sequence)
                sequence += 1
                for model, top in (
                    (primary, primary_scores[variant.label][index]),
                    (second, second_scores[variant.label][index]),
                ):
                    Prediction.objects.create(
                        frame=frame,
                        model_version=model,
                        campaign=campaign,
                        variant=variant,
                        tester=person,
                        media_time_ms=frame.media_time_ms,
                        probabilities={top: 0.9},
                        top_class=top,
                        top_probability=0.9,
                    )
    # A frame only the primary scored (the second model lagging) is not counted.
    lagging = make_frame(testers[0], variant_b, 99)
    Prediction.objects.create(
        frame=lagging,
        model_version=primary,
        campaign=campaign,
        variant=variant_b,
        tester=testers[0],
        media_time_ms=0,
        probabilities={"happy": 0.9},
        top_class="happy",
        top_probability=0.9,
    )
    return campaign


@pytest.mark.django_db
def test_the_verdict_flags_a_flip(django_assert_max_num_queries):
    campaign = _scored_campaign({"A": ["neutral", "sadness"], "B": ["happy", "happy"]})
    campaign = Campaign.objects.select_related("model_version", "second_model_version").get(pk=campaign.pk)
    with django_assert_max_num_queries(2):
        verdict = second_opinion_verdict(campaign=campaign, threshold=0.8)
    assert verdict["model"] == "second 1"
    assert verdict["frames"] == 12 and verdict["testers"] == 3
    happy = verdict["classes"]["happy"]
    assert (happy["primary_leader"], happy["second_leader"], happy["flipped"]) == ("A", "B", True)
    assert happy["primary_means"] == {"A": 1.0, "B": 0.5} and happy["second_means"] == {"A": 0.0, "B": 1.0}
    sad = verdict["classes"]["sad"]  # "sadness" under the second model
    assert (sad["primary_leader"], sad["second_leader"], sad["flipped"]) == (None, "A", False)
    assert set(verdict["classes"]) == {"angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"}
    assert verdict["flipped_any"] is True
    # Above every probability, nothing is counted: no leader, no flip.
    assert second_opinion_verdict(campaign=campaign, threshold=0.95)["flipped_any"] is False


@pytest.mark.django_db
def test_the_verdict_does_not_flag_when_both_models_agree():
    campaign = _scored_campaign({"A": ["happy", "happy"], "B": ["happy", "surprised"]})
    verdict = second_opinion_verdict(campaign=campaign, threshold=0.8)
    happy = verdict["classes"]["happy"]
    assert (happy["primary_leader"], happy["second_leader"], happy["flipped"]) == ("A", "A", False)
    assert verdict["classes"]["surprise"]["second_leader"] == "B"  # "surprised" under the second model
    assert verdict["flipped_any"] is False


@pytest.mark.django_db
def test_no_second_model_no_verdict():
    campaign, _variant, _tester = make_campaign()
    assert second_opinion_verdict(campaign=campaign, threshold=0.8) == {
        "model": None,
        "frames": 0,
        "testers": 0,
        "classes": {},
        "flipped_any": False,
    }


@pytest.mark.django_db
def test_the_dashboard_says_in_plain_words_when_the_leader_flips_under_the_second_model(client):
    from django.contrib.auth import get_user_model

    from campaigns.models import Membership

    campaign = _scored_campaign({"A": ["neutral", "sadness"], "B": ["happy", "happy"]})
    researcher = get_user_model().objects.create_user("owner", password="a-long-password-1")
    Membership.objects.create(user=researcher, organisation=campaign.organisation)
    client.force_login(researcher)

    response = client.get(f"/api/campaigns/{campaign.pk}/dashboard/", {"threshold": "0.8"})

    assert response.status_code == 200
    second = response.json()["second_opinion"]
    assert second["flipped_any"] is True
    happy = next(item for item in second["sentences"] if item["class_name"] == "happy")
    assert happy["flipped"] is True
    assert "A leads under the main model but B leads under second 1" in happy["sentence"]
