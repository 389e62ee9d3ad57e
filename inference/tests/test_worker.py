"""Frames through a real Celery worker, Redis and PostgreSQL: outcomes, predictions, kept frames,
live events, redelivery after a killed worker."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db.models import Count

from campaigns.live import campaign_group_name
from config.celery import INFLIGHT_PREFIX
from conftest import ROOT, child_environment, start_celery_worker
from inference import sample_frames
from inference.default_calibration import read_default_calibration
from inference.models import Prediction
from inference.services import model_version_ensure_default
from inference.tests.conftest import make_campaign, make_frame, wait_until
from sessions.analysis_queue import frame_submit_for_analysis
from sessions.models import Frame
from tests.emotion_math.turned_heads import HeadPose, render_head

CASES = {
    "face": (sample_frames.face_jpeg, "prediction"),
    "blank": (sample_frames.blank_jpeg, "no_face"),
    "two_faces": (sample_frames.two_faces_jpeg, "multiple_faces"),
    "dark": (sample_frames.dark_jpeg, "too_dark"),
    "tiny_face": (sample_frames.tiny_face_jpeg, "face_too_small"),
    "corrupt": (sample_frames.corrupt_jpeg, "undecodable"),
    "overexposed": (sample_frames.overexposed_jpeg, "overexposed"),
    "blurred": (sample_frames.blurred_jpeg, "blurred"),
}


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


def _pending(frame_ids: list[int]) -> int:
    return Frame.objects.filter(pk__in=frame_ids, outcome=Frame.Outcome.PENDING).count()


async def _receive_events(layer, channel: str, *, frames: int, timeout: float) -> list[dict]:
    """Events until they account for `frames` frames (a coalesced event counts for several)."""
    events, heard = [], 0
    async with asyncio.timeout(timeout):
        while heard < frames:
            event = (await layer.receive(channel))["event"]
            events.append(event)
            heard += event.get("coalesced", 1)
    return events


@pytest.mark.django_db(transaction=True)
def test_each_real_frame_ends_in_its_outcome_through_a_real_worker(tmp_path):
    from config.celery import app

    app.control.purge()
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("unacked", "unacked_index")
    default_model = model_version_ensure_default()
    media = tmp_path / "media"
    worker = start_celery_worker(tmp_path, queues="inference", MEDIA_ROOT=str(media))
    try:
        campaign, variant, tester = make_campaign()
        kept_campaign, kept_variant, kept_tester = make_campaign(keep_frames=True, frame_retention_days=7)
        layer = get_channel_layer()
        channel = async_to_sync(layer.new_channel)()
        async_to_sync(layer.group_add)(campaign_group_name(campaign.pk), channel)

        frames = {}
        for sequence, (name, (make_jpeg, _expected)) in enumerate(CASES.items()):
            frames[name] = make_frame(tester, variant, sequence)
            frame_submit_for_analysis(frame_id=frames[name].pk, image_bytes=make_jpeg())
        kept = make_frame(kept_tester, kept_variant, 0)
        frame_submit_for_analysis(frame_id=kept.pk, image_bytes=sample_frames.face_jpeg())
        # A tester looking well away from the screen, in a campaign of its own.
        _turned_campaign, turned_variant, turned_tester = make_campaign()
        turned = make_frame(turned_tester, turned_variant, 0)
        frame_submit_for_analysis(
            frame_id=turned.pk, image_bytes=sample_frames.encode_jpeg(render_head(HeadPose(yaw=55)))
        )
        # The same frame delivered again (a client retry that got through) changes nothing.
        frame_submit_for_analysis(frame_id=frames["face"].pk, image_bytes=sample_frames.face_jpeg())
        all_ids = [frame.pk for frame in frames.values()] + [kept.pk, turned.pk]
        wait_until(lambda: _pending(all_ids) == 0, message=worker.log())
        time.sleep(0.5)  # let the repeated message finish too
        # Every message was acknowledged (a batch's together): nothing is left for Redis to redeliver.
        assert broker.hlen("unacked") == broker.zcard("unacked_index") == 0
        assert not list(broker.scan_iter(match=f"{INFLIGHT_PREFIX}:*"))

        outcomes = {name: Frame.objects.get(pk=frame.pk).outcome for name, frame in frames.items()}
        assert outcomes == {name: expected for name, (_make, expected) in CASES.items()}

        prediction = Prediction.objects.get(frame=frames["face"])
        assert prediction.model_version == default_model
        assert prediction.top_class == "happy"
        assert prediction.top_probability > 0.8
        assert set(prediction.probabilities) == set(default_model.class_names)
        assert abs(sum(prediction.probabilities.values()) - 1) < 0.01
        # The flushed registry got the default model and its shipped calibration back; the worker applies it.
        assert prediction.calibration_version == read_default_calibration()["parameters"]["version"]
        assert prediction.calibrated_top_class == "happy"
        assert (prediction.tester_id, prediction.variant_id, prediction.media_time_ms) == (tester.pk, variant.pk, 0)
        x, y, width, height = prediction.face_box
        assert 200 < x + width / 2 < 440 and 120 < y + height / 2 < 320 and 130 < width < 220
        assert Prediction.objects.filter(frame__tester=tester).count() == 1

        # Quality figures explain each refusal; the face figures are measured on the face.
        dark, tiny = Frame.objects.get(pk=frames["dark"].pk), Frame.objects.get(pk=frames["tiny_face"].pk)
        assert dark.quality["luminance"] < settings.MIMIK["FACE_MIN_LUMINANCE"]
        assert tiny.quality["face_px"] < settings.MIMIK["FACE_MIN_SIZE_PX"]
        assert Frame.objects.get(pk=frames["two_faces"].pk).quality["face_count"] == 2

        # The head's turn is stored for every frame with one face, whatever gate it then failed:
        # the frontal face is well within the attention threshold, the head turned 55 degrees beyond.
        turns = {name: Frame.objects.get(pk=frame.pk).head_turn_degrees for name, frame in frames.items()}
        assert abs(turns["face"]) < 15
        assert all(turns[name] is not None for name in ("dark", "tiny_face", "overexposed", "blurred"))
        assert turns["blank"] is turns["two_faces"] is turns["corrupt"] is None
        turned.refresh_from_db()
        assert turned.outcome == "prediction"
        assert abs(turned.head_turn_degrees) > settings.MIMIK["ATTENTION_MAX_HEAD_TURN_DEGREES"] + 10

        # Privacy: only the opted-in campaign's snapshot is on disk, with a retention date.
        kept.refresh_from_db()
        assert kept.outcome == "prediction" and kept.kept_image and kept.retain_until
        assert 6 <= (kept.retain_until - kept.outcome_at).days <= 7
        stored = [path for path in media.rglob("*") if path.is_file()]
        assert [path.name for path in stored] == [os.path.basename(kept.kept_image.name)]
        assert all(not Frame.objects.get(pk=frame.pk).kept_image for frame in frames.values())

        # The dashboard group heard every frame of its campaign, in events coalesced to a few per
        # second (campaigns.live); the last state arrives: the last frame the worker took.
        events = async_to_sync(_receive_events)(layer, channel, frames=len(CASES), timeout=10)
        assert sum(event.get("coalesced", 1) for event in events) == len(CASES)
        assert all(event["kind"] == "frame" and event["variant_id"] == str(variant.pk) for event in events)
        assert events[-1]["outcome"] == CASES["blurred"][1]
    finally:
        _stop(worker.process)


VISIBILITY_TIMEOUT_S = 2


@pytest.mark.django_db(transaction=True)
def test_killing_a_worker_mid_batch_loses_no_frame_and_predicts_none_twice(tmp_path):
    """kombu's Redis transport keeps a taken message in the "unacked" hash (scored by delivery
    time) until it is acknowledged. A consumer moves entries older than the visibility timeout
    back to the queue when it starts, and afterwards only every tenth tick of a 10 s timer
    (QoS.restore_visible with interval=10), i.e. every ~100 s. The replacement worker used to
    start within the visibility timeout of the delivery, so its start-up pass found nothing old
    enough and the frame waited ~100 s for the next pass: the intermittent 90 s timeout. Here the
    replacement starts only once every in-flight message is past the timeout, so its start-up pass
    restores all of them; the test also checks no other worker consumes this Redis database."""
    from config.celery import app

    app.control.purge()
    strays = app.control.ping(timeout=0.5)
    assert not strays, f"another worker consumes this Redis database and would take the frames: {strays}"
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("unacked", "unacked_index", "unacked_mutex")
    model_version_ensure_default()
    _campaign, variant, tester = make_campaign()
    jpegs = [frame.jpeg for frame in sample_frames.benchmark_frames(40)]
    frames = [make_frame(tester, variant, sequence) for sequence in range(120)]
    frame_ids = [frame.pk for frame in frames]
    timeout_env = {"CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT_S)}

    first = start_celery_worker(tmp_path, queues="inference", **timeout_env)
    for frame, jpeg in zip(frames, jpegs * 3, strict=True):
        frame_submit_for_analysis(frame_id=frame.pk, image_bytes=jpeg)
    # Kill while a frame is taken but not acknowledged (Redis keeps it in its "unacked" hash).
    wait_until(
        lambda: _pending(frame_ids) < len(frame_ids) - 3 and broker.hlen("unacked") > 0,
        timeout=30,
        message=first.log(),
    )
    os.killpg(first.process.pid, signal.SIGKILL)  # the whole group: the pool child too
    first.process.wait(timeout=10)
    pending_at_kill = _pending(frame_ids)
    in_flight = broker.zrange("unacked_index", 0, -1, withscores=True)
    assert pending_at_kill > 0, f"the worker finished everything before it was killed: {first.log()[-2000:]}"
    assert in_flight, "the killed worker held no unacknowledged frame"
    # Only the dead worker could hold the restore lock; a replacement must not wait for it to expire.
    broker.delete("unacked_mutex")
    last_delivery = max(score for _tag, score in in_flight)
    time.sleep(max(0.0, last_delivery + VISIBILITY_TIMEOUT_S + 0.5 - time.time()))

    second = start_celery_worker(tmp_path, queues="inference", **timeout_env)
    try:
        wait_until(
            lambda: _pending(frame_ids) == 0,
            timeout=30,
            message=f"{_pending(frame_ids)} pending, unacked {broker.hlen('unacked')}: {second.log()[-3000:]}",
        )
    finally:
        _stop(second.process)

    outcomes = Frame.objects.filter(pk__in=frame_ids).values_list("outcome", flat=True)
    assert len(outcomes) == 120 and "pending" not in outcomes
    duplicates = Prediction.objects.values("frame").annotate(n=Count("id")).filter(n__gt=1)
    assert not duplicates.exists()
    predicted = Frame.objects.filter(pk__in=frame_ids, outcome="prediction").count()
    assert Prediction.objects.filter(frame_id__in=frame_ids).count() == predicted > 80


def _pool_processes(worker_pid: int) -> list[int]:
    children = []
    for task in Path(f"/proc/{worker_pid}/task").iterdir():
        children += [int(child) for child in (task / "children").read_text().split()]
    return children


@pytest.mark.django_db(transaction=True)
def test_a_batch_whose_pool_process_died_goes_back_to_the_queue_at_once(tmp_path):
    """A pool process killed mid-batch (the kernel's OOM killer, a crash in native code), its
    worker alive: the batch's messages go back to the queue as soon as the worker notices, not
    after the visibility timeout (here the default five minutes), and each frame gets one outcome."""
    from config.celery import app

    app.control.purge()
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    broker.delete("unacked", "unacked_index", "unacked_mutex")
    model_version_ensure_default()
    _campaign, variant, tester = make_campaign()
    jpegs = [frame.jpeg for frame in sample_frames.benchmark_frames(32)]
    # Enough frames that the worker is still busy when the kills land: one process analyses
    # ~250 frames a second, so a few hundred could all be done before the first kill.
    frames = [make_frame(tester, variant, sequence) for sequence in range(1024)]
    frame_ids = [frame.pk for frame in frames]

    worker = start_celery_worker(tmp_path, queues="inference")
    try:
        for frame, jpeg in zip(frames, jpegs * 32, strict=True):
            frame_submit_for_analysis(frame_id=frame.pk, image_bytes=jpeg)
        # Kill the pool process while it analyses a batch: once it has recorded one, the next
        # follows at once (the worker holds two batches' worth). A kill that happens to fall
        # between two batches costs nothing and is tried again.
        for _attempt in range(4):
            pending = _pending(frame_ids)
            assert pending > 0, f"every frame was analysed before a kill landed mid-batch: {worker.log()[-3000:]}"
            wait_until(lambda pending=pending: _pending(frame_ids) < pending, timeout=60, message=worker.log())
            time.sleep(0.1)
            for pool_process in _pool_processes(worker.process.pid):
                os.kill(pool_process, signal.SIGKILL)
            time.sleep(1)
            if "requeued" in worker.log():
                break
        assert "requeued" in worker.log()
        wait_until(
            lambda: _pending(frame_ids) == 0,
            timeout=90,
            message=f"{_pending(frame_ids)} pending: {worker.log()[-3000:]}",
        )
    finally:
        _stop(worker.process)

    duplicates = Prediction.objects.values("frame").annotate(n=Count("id")).filter(n__gt=1)
    assert not duplicates.exists()
    predicted = Frame.objects.filter(pk__in=frame_ids, outcome="prediction").count()
    assert Prediction.objects.filter(frame_id__in=frame_ids).count() == predicted > 640


def test_upload_fails_fast_with_queue_unavailable_when_the_broker_is_down():
    """In a fresh process whose broker URL points at a closed port."""
    code = (
        "import time, django; django.setup()\n"
        "from sessions.analysis_queue import QueueUnavailable, frame_submit_for_analysis\n"
        "start = time.monotonic()\n"
        "try:\n"
        "    frame_submit_for_analysis(frame_id=1, image_bytes=b'x')\n"
        "except QueueUnavailable:\n"
        "    print('QueueUnavailable after', round(time.monotonic() - start, 2))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=child_environment(REDIS_URL="redis://127.0.0.1:1/0"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "QueueUnavailable after" in result.stdout, result.stderr[-2000:]
    assert float(result.stdout.split()[-1]) < 3
