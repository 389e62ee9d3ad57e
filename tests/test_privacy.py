"""Privacy: snapshots never touch the disk unless the campaign opted in; retention; withdrawal
erases a tester everywhere, exports included; a tester's own data as JSON (GDPR Art. 15)."""

from __future__ import annotations

import time
from datetime import timedelta

import httpx
import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, Invitation
from campaigns.services import invitations_erase_expired
from campaigns.tasks import erase_expired_invitations
from campaigns.tests.conftest import make_researcher
from campaigns.tokens import hash_token
from config.celery import app
from conftest import child_environment, start_celery_worker
from inference import sample_frames
from inference.models import ModelVersion, Prediction
from inference.services import model_version_ensure_default
from inference.tasks import purge_expired_frames
from sessions import services as tester_services
from sessions.models import Frame, SurveyAnswer
from sessions.models import Tester as StudyTester  # aliased: pytest collects names starting with "Test"
from sessions.tests.agreeing import agree, consent, stored_tester, watch_and_answer
from tests.load.servers import stop, uvicorn_server
from tests.support.study import make_study


def consenting(study, index: int = 0) -> StudyTester:
    invitation = Invitation.objects.filter(campaign=study.campaign).order_by("created_at")[index]
    tester = tester_services.tester_consent(tester=tester_services.tester_create_for_invitation(invitation=invitation))
    tester_services.tester_camera_set(tester=tester, camera="granted")
    return tester


def files_under(*directories) -> list[str]:
    return sorted(str(path) for directory in directories for path in directory.rglob("*") if path.is_file())


@pytest.mark.django_db(transaction=True)
def test_no_snapshot_touches_the_disk_unless_the_campaign_opted_in(tmp_path):
    app.control.purge()
    model_version_ensure_default()
    media, temp = tmp_path / "media", tmp_path / "tmp"
    media.mkdir()
    temp.mkdir()
    discreet, keeping = make_study(invitations=1), make_study(invitations=1, organisation_name="Keeps")
    Campaign.objects.filter(pk=keeping.campaign.pk).update(keep_frames=True)
    variants_before = files_under(media)
    places = {"MEDIA_ROOT": str(media), "TMPDIR": str(temp), "FILE_UPLOAD_TEMP_DIR": str(temp)}
    worker = start_celery_worker(tmp_path, queues="inference", **places)
    try:
        with uvicorn_server(child_environment(**places), tmp_path / "uvicorn.log") as url:

            def upload(study, tester: StudyTester, sequence: int) -> int:
                return httpx.post(
                    f"{url}/api/t/{study.tokens[0]}/frames/",
                    data={"variant": tester.variant_order[0], "sequence": str(sequence), "media_time_ms": "0"},
                    files={"image": ("s.jpg", sample_frames.face_jpeg(), "image/jpeg")},
                    timeout=20,
                ).status_code

            tester = consenting(discreet)
            assert [upload(discreet, tester, n) for n in range(3)] == [204] * 3
            deadline = time.monotonic() + 60
            while Frame.objects.filter(outcome=Frame.Outcome.PENDING).exists() and time.monotonic() < deadline:
                time.sleep(0.3)
            assert Frame.objects.filter(tester=tester, outcome=Frame.Outcome.PREDICTION).count() == 3, worker.log()
            assert files_under(media, temp) == variants_before  # analysed, and nothing written

            # The same scan sees a snapshot where one is kept: the campaign that opted in.
            keeper = consenting(keeping)
            assert upload(keeping, keeper, 0) == 204
            while Frame.objects.filter(outcome=Frame.Outcome.PENDING).exists() and time.monotonic() < deadline:
                time.sleep(0.3)
    finally:
        stop(worker.process)
    kept = Frame.objects.get(tester=keeper)
    assert kept.kept_image and kept.retain_until > timezone.now()
    assert [path for path in files_under(media, temp) if path not in variants_before] == [
        str(media / kept.kept_image.name)
    ]


@pytest.mark.django_db
def test_beat_runs_retention_for_kept_frames_and_expired_invitations(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    schedule = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert schedule == {
        "inference.purge_expired_frames",
        "inference.expire_stale_frames",
        "inference.expire_stale_baseline_snapshots",
        "campaigns.erase_expired_invitations",
    }
    app.loader.import_default_modules()
    assert schedule <= set(app.tasks)

    study = make_study(invitations=3)
    tester = consenting(study)
    old, recent, live = Invitation.objects.filter(campaign=study.campaign).order_by("created_at")
    erase_after = settings.MIMIK["INVITATION_ERASE_AFTER_DAYS"]
    Invitation.objects.filter(pk=old.pk).update(expires_at=timezone.now() - timedelta(days=erase_after + 1))
    Invitation.objects.filter(pk=recent.pk).update(expires_at=timezone.now() - timedelta(days=erase_after - 1))
    frames = []
    for sequence, days in ((0, -1), (1, 5)):
        frame = Frame.objects.create(
            campaign=study.campaign, tester=tester, variant=study.variants[0], sequence=sequence, media_time_ms=0
        )
        frame.kept_image.save(f"frame-{sequence}.jpg", ContentFile(sample_frames.face_jpeg()), save=False)
        frame.retain_until = timezone.now() + timedelta(days=days)
        frame.save(update_fields=["kept_image", "retain_until"])
        frames.append(frame)
    expired_path = frames[0].kept_image.path

    assert erase_expired_invitations() == 1 and invitations_erase_expired() == 0  # repeatable
    assert purge_expired_frames() == 1

    emails = dict(Invitation.objects.values_list("pk", "email"))
    assert "example.com" not in emails[old.pk] and emails[recent.pk] == recent.email and emails[live.pk] == live.email
    assert StudyTester.objects.filter(pk=tester.pk).exists()  # the pseudonymous tester stays
    assert not Frame.objects.get(pk=frames[0].pk).kept_image and Frame.objects.get(pk=frames[1].pk).kept_image
    assert not (settings.MEDIA_ROOT / expired_path).exists() and frames[1].kept_image.storage.exists(
        frames[1].kept_image.name
    )


def give_frames_and_answers(study, tester: StudyTester) -> None:
    model = ModelVersion.objects.get(is_active=True)
    for sequence in range(2):
        frame = Frame.objects.create(
            campaign=study.campaign, tester=tester, variant=study.variants[0], sequence=sequence, media_time_ms=500,
            outcome=Frame.Outcome.PREDICTION, outcome_at=timezone.now(),
        )  # fmt: skip
        Prediction.objects.create(
            frame=frame, model_version=model, campaign=study.campaign, variant=study.variants[0], tester=tester,
            media_time_ms=500, probabilities={"happy": 0.9, "neutral": 0.1}, top_class="happy", top_probability=0.9,
        )  # fmt: skip
    SurveyAnswer.objects.create(
        tester=tester, variant=study.variants[0], question=study.questions[0], rating=6, comment="Loved the blue"
    )


@pytest.mark.django_db
def test_a_tester_downloads_everything_stored_about_them_and_so_can_their_researcher(client):
    model_version_ensure_default()
    study = make_study(invitations=2)
    tester, other = consenting(study, 0), consenting(study, 1)
    give_frames_and_answers(study, tester)
    give_frames_and_answers(study, other)

    response = client.get(reverse("tester:my_data", kwargs={"token": study.tokens[0]}))

    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    data = response.json()
    assert data["tester"] == str(tester.pk) and data["invitation"]["email"] == "tester0@example.com"
    assert data["consent"]["version"] == 2 and data["consent"]["consented_at"]
    assert data["variant_order"] == [
        v.label for v in sorted(study.variants, key=lambda v: tester.variant_order.index(str(v.pk)))
    ]
    assert [
        (f["sequence"], f["outcome"], [(p["role"], p["top_class"]) for p in f["predictions"]]) for f in data["frames"]
    ] == [
        (0, "prediction", [("primary", "happy")]),
        (1, "prediction", [("primary", "happy")]),
    ]
    assert data["frames"][0]["predictions"][0]["probabilities"] == {"happy": 0.9, "neutral": 0.1}
    assert [(a["rating"], a["comment"]) for a in data["answers"]] == [(6, "Loved the blue")]
    assert str(other.pk) not in response.content.decode()

    # The link on the finish page points there; researchers of the campaign get the same JSON.
    owner, outsider = (
        make_researcher("owner", study.campaign.organisation),
        make_researcher("outsider", make_study(invitations=0, organisation_name="Other").campaign.organisation),
    )
    url = reverse("dashboard:tester_data", kwargs={"campaign_id": study.campaign.pk, "tester_id": tester.pk})
    client.force_login(outsider)
    assert client.get(url).status_code == 404
    client.force_login(owner)
    assert client.get(url).json() == data


@pytest.mark.django_db
def test_withdrawal_erases_the_tester_everywhere_including_exports_made_afterwards(client):
    model_version_ensure_default()
    study = make_study(invitations=2)
    tester, other = consenting(study, 0), consenting(study, 1)
    give_frames_and_answers(study, tester)
    give_frames_and_answers(study, other)
    client.force_login(make_researcher("owner", study.campaign.organisation))

    def exports() -> str:
        texts = []
        for kind in ("frames", "testers", "survey", "baseline"):
            url = reverse("dashboard-api:export", kwargs={"campaign_id": study.campaign.pk, "kind": kind})
            response = client.get(url)
            assert response.status_code == 200, kind
            texts.append(b"".join(response.streaming_content).decode())
        return "\n".join(texts)

    before = exports()
    assert str(tester.pk) in before and "Loved the blue" in before
    client.post(reverse("tester:withdraw", kwargs={"token": study.tokens[0]}))
    after = exports()

    assert str(tester.pk) not in after and str(other.pk) in after
    assert not StudyTester.objects.filter(pk=tester.pk).exists()
    assert not Frame.objects.filter(tester_id=tester.pk).exists()
    assert not Prediction.objects.filter(tester_id=tester.pk).exists()
    assert not SurveyAnswer.objects.filter(tester_id=tester.pk).exists()
    assert not Invitation.objects.filter(email="tester0@example.com").exists()
    assert Invitation.objects.filter(withdrawn_at__isnull=False).count() == 1
    gone = client.get(reverse("tester:my_data", kwargs={"token": study.tokens[0]}))
    assert gone.status_code == 404 and str(tester.pk) not in gone.content.decode()
    assert settings.MIMIK["INVITATION_ERASE_AFTER_DAYS"] > 0


@pytest.mark.django_db(transaction=True)
def test_withdrawal_while_a_worker_keeps_a_snapshot_leaves_no_file_behind(settings, tmp_path):
    """A campaign that keeps snapshots: a worker is recording one of the tester's frames (its row
    claimed, the file written, not yet committed) when the tester withdraws. The withdrawal waits
    for it and removes that file too, instead of leaving a snapshot on disk that no row names."""
    import threading

    from django.db import connections, transaction

    from inference.services import _frame_keep_image

    settings.MEDIA_ROOT = tmp_path / "media"
    study = make_study(invitations=1)
    Campaign.objects.filter(pk=study.campaign.pk).update(keep_frames=True, frame_retention_days=30)
    tester = consenting(study)
    frame = Frame.objects.create(
        campaign=study.campaign, tester=tester, variant=study.variants[0], sequence=0, media_time_ms=0
    )
    claimed, release, withdrawn = threading.Event(), threading.Event(), threading.Event()

    def worker() -> None:  # what inference.services.frames_record_analyses does for a kept frame
        try:
            with transaction.atomic():
                Frame.objects.filter(pk=frame.pk, outcome=Frame.Outcome.PENDING).update(
                    outcome=Frame.Outcome.PREDICTION, outcome_at=timezone.now()
                )
                _frame_keep_image(frame_id=frame.pk, retention_days=30, image_bytes=b"\xff\xd8jpeg", now=timezone.now())
                claimed.set()
                release.wait(10)
        finally:
            connections.close_all()

    def withdraw() -> None:
        try:
            tester_services.tester_withdraw(tester=tester)
            withdrawn.set()
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker), threading.Thread(target=withdraw)]
    threads[0].start()
    assert claimed.wait(10)
    threads[1].start()
    time.sleep(0.5)
    assert not withdrawn.is_set()  # it waits for the worker's transaction
    release.set()
    for thread in threads:
        thread.join(10)

    assert withdrawn.is_set()
    assert not Frame.objects.filter(pk=frame.pk).exists()
    assert files_under(settings.MEDIA_ROOT / "frames") == []


@pytest.mark.django_db
def test_withdrawal_deletes_frames_predictions_answers_and_marks_the_invitation(client):
    study = make_study(invitations=2)
    token, other_token = study.tokens
    tester, other = consent(client, token), consent(client, other_token)
    for owner in (tester, other):
        frame = Frame.objects.create(
            campaign=study.campaign, tester=owner, variant=study.variants[0], sequence=0, media_time_ms=500
        )
        Prediction.objects.create(
            frame=frame,
            model_version=ModelVersion.objects.get(is_active=True),
            campaign=study.campaign,
            variant=study.variants[0],
            tester=owner,
            media_time_ms=500,
            probabilities={"happy": 1.0},
            top_class="happy",
            top_probability=1.0,
        )
    client.post(reverse("tester:camera", kwargs={"token": token}), {"camera": "granted"})
    watch_and_answer(client, token, 5)

    confirm = client.get(reverse("tester:withdraw", kwargs={"token": token}))
    done = client.post(reverse("tester:withdraw", kwargs={"token": token}))

    assert "Withdraw and delete my data" in confirm.content.decode()
    assert "has been deleted" in done.content.decode()
    assert not StudyTester.objects.filter(pk=tester.pk).exists()
    assert Frame.objects.filter(tester=other).count() == 1 and Frame.objects.count() == 1
    assert Prediction.objects.filter(tester_id=other.pk).count() == 1 and Prediction.objects.count() == 1
    assert SurveyAnswer.objects.count() == 0
    invitation = Invitation.objects.get(token_hash=hash_token(token))
    assert invitation.withdrawn_at is not None and "tester0" not in invitation.email
    again = client.get(reverse("tester:start", kwargs={"token": token}))
    assert again.status_code == 404 and "You have withdrawn" in again.content.decode()
    assert not StudyTester.objects.filter(token_hash=hash_token(token)).exists()


@pytest.mark.django_db
def test_the_data_file_lists_the_primary_and_the_second_opinion_prediction_of_every_frame(client):
    primary = model_version_ensure_default()
    second = ModelVersion.objects.create(
        name="facex", version="1", file_path="/nonexistent.tflite", framework=ModelVersion.Framework.TFLITE,
        class_names=["happiness", "neutral"], input_size=112, color_mode=ModelVersion.ColorMode.RGB,
        scaling=ModelVersion.Scaling.ZERO_TO_ONE,
    )  # fmt: skip
    study = make_study(invitations=1)
    Campaign.objects.filter(pk=study.campaign.pk).update(second_model_version=second)
    agree(client, study.tokens[0])
    tester = stored_tester(study.tokens[0])
    for sequence in range(2):
        frame = Frame.objects.create(
            campaign=study.campaign, tester=tester, variant=study.variants[0], sequence=sequence,
            media_time_ms=500 * sequence, outcome=Frame.Outcome.PREDICTION, outcome_at=timezone.now(),
        )  # fmt: skip
        # The second opinion arrives first here: the order in the file must not depend on that.
        for model, top in ((second, "happiness"), (primary, "happy")):
            Prediction.objects.create(
                frame=frame, model_version=model, campaign=study.campaign, variant=study.variants[0],
                tester=tester, media_time_ms=frame.media_time_ms, probabilities={top: 0.8, "neutral": 0.2},
                top_class=top, top_probability=0.8,
            )  # fmt: skip

    data = client.get(reverse("tester:my_data", kwargs={"token": study.tokens[0]})).json()

    assert [[(p["role"], p["model"], p["top_class"]) for p in f["predictions"]] for f in data["frames"]] == [
        [("primary", str(primary), "happy"), ("second_opinion", str(second), "happiness")]
    ] * 2
