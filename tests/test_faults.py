"""Parts failing under the upload path, against real processes: our own redis-server killed and
restarted under a real uvicorn, and PostgreSQL cut off (through a TCP proxy we control) under a
real Celery worker and /healthz. A killed worker mid-burst is inference/tests/test_worker.py's
`test_killing_a_worker_mid_batch...` and the load script's --kill-worker-at; the narrow moment
between a worker taking a message and recording it as unacknowledged is tested here."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import httpx
import pytest
import redis
from django.conf import settings
from django.db import connection
from django.db.models import Count

import conftest
from campaigns.models import Invitation
from config.celery import INFERENCE_QUEUE, INFLIGHT_PREFIX
from conftest import child_environment, start_celery_worker
from inference import sample_frames
from inference.models import Prediction
from inference.services import model_version_ensure_default
from sessions import services as tester_services
from sessions.analysis_queue import frame_submit_for_analysis
from sessions.models import Frame
from tests.load.servers import free_port, own_redis, stop, uvicorn_server
from tests.support.study import make_study


def consenting_study():
    study = make_study(invitations=1)
    tester = tester_services.tester_create_for_invitation(invitation=Invitation.objects.get())
    tester = tester_services.tester_consent(tester=tester)
    tester_services.tester_camera_set(tester=tester, camera="granted")
    return study, study.tokens[0], tester


def upload(base_url: str, token: str, variant_id: str, sequence: int) -> httpx.Response:
    return httpx.post(
        f"{base_url}/api/t/{token}/frames/",
        data={"variant": variant_id, "sequence": str(sequence), "media_time_ms": str(sequence * 500)},
        files={"image": ("s.jpg", sample_frames.face_jpeg(), "image/jpeg")},
        timeout=20,
    )


@pytest.mark.django_db(transaction=True)
def test_redis_restart_answers_503_with_retry_after_and_loses_no_accepted_frame(tmp_path):
    model_version_ensure_default()  # a flushed test database has no active model: healthz would name it
    study, token, tester = consenting_study()
    variant = tester.variant_order[0]
    with own_redis(tmp_path) as broker:
        env = child_environment(REDIS_URL=broker.url, CACHE_KEY_PREFIX="faults")
        with uvicorn_server(env, tmp_path / "uvicorn.log") as url:
            assert upload(url, token, variant, 0).status_code == 204

            broker.kill()
            refused = upload(url, token, variant, 1)
            page = httpx.get(f"{url}/t/{token}/watch/", timeout=20)
            health = httpx.get(f"{url}/healthz", timeout=20)

            assert refused.status_code == 503, refused.text
            assert int(refused.headers["Retry-After"]) > 0
            assert set(refused.json()) == {"message", "extra"}
            assert page.status_code == 503 and page.headers["Retry-After"]
            assert health.status_code == 503 and health.json()["failing"] == ["redis"]
            assert list(Frame.objects.values_list("sequence", flat=True)) == [0]  # the refused one is not kept

            broker.start()
            # What the tester page does with a 503: wait Retry-After (here: poll) and send it again.
            deadline, statuses = time.monotonic() + 20, []
            while time.monotonic() < deadline and 204 not in statuses:
                statuses.append(upload(url, token, variant, 1).status_code)
                time.sleep(0.3)
            assert statuses[-1] == 204, statuses
            assert set(statuses) <= {503, 204}, statuses
            assert httpx.get(f"{url}/healthz", timeout=20).status_code == 200

        # Both accepted frames wait in the restarted broker: the one sent before the kill survived it.
        assert sorted(Frame.objects.values_list("sequence", flat=True)) == [0, 1]
        assert redis.Redis.from_url(broker.url).llen(INFERENCE_QUEUE) == 2


def test_a_redis_that_hangs_costs_the_upload_a_quick_refusal_not_a_wait(tmp_path):
    """Redis stopped rather than killed (SIGSTOP: the connection stays open and nothing answers),
    as a stalled server or a lost network path looks: the publish gives up after the broker's
    socket timeout (settings.CELERY_BROKER_TRANSPORT_OPTIONS), so the upload can answer 503."""
    code = (
        "import os, signal, time, django; django.setup()\n"
        "from sessions.analysis_queue import QueueUnavailable, frame_submit_for_analysis\n"
        "frame_submit_for_analysis(frame_id=1, image_bytes=b'x')\n"
        "os.kill(int(os.environ['REDIS_PID']), signal.SIGSTOP)\n"
        "start = time.monotonic()\n"
        "try:\n"
        "    frame_submit_for_analysis(frame_id=2, image_bytes=b'x')\n"
        "except QueueUnavailable:\n"
        "    print('QueueUnavailable after', round(time.monotonic() - start, 2))\n"
    )
    with own_redis(tmp_path) as broker:
        env = child_environment(REDIS_URL=broker.url, REDIS_PID=str(broker.process.pid))
        try:
            result = subprocess.run(
                [sys.executable, "-c", code], cwd=conftest.ROOT, env=env, capture_output=True, text=True, timeout=60
            )
        finally:
            os.kill(broker.process.pid, signal.SIGCONT)
    assert "QueueUnavailable after" in result.stdout, result.stderr[-2000:]
    assert float(result.stdout.split()[-1]) < 5


class TcpProxy:
    """127.0.0.1:<port> -> PostgreSQL, which we can cut off (existing connections too) and restore."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.up = True
        self.sockets: list[socket.socket] = []
        self.listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _address = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            server = socket.create_connection(self.upstream)
            self.sockets += [client, server]
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, target), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.up = False
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self.sockets = []

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


def wait_until(check, timeout: float, message) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(message() if callable(message) else message)


@pytest.mark.django_db(transaction=True)
def test_database_outage_the_worker_retries_with_back_off_and_healthz_names_the_database(tmp_path):
    from config.celery import app

    app.control.purge()
    model_version_ensure_default()
    _study, _token, tester = consenting_study()
    frames = [
        Frame.objects.create(
            campaign_id=tester.campaign_id,
            tester=tester,
            variant_id=tester.variant_order[0],
            sequence=n,
            media_time_ms=0,
        )
        for n in range(4)
    ]
    db = connection.settings_dict
    proxy = TcpProxy((db.get("HOST") or "127.0.0.1", int(db.get("PORT") or 5432)))
    proxied_url = conftest.test_database_url().replace(f":{db.get('PORT') or 5432}/", f":{proxy.port}/")
    proxy.cut()
    worker = start_celery_worker(tmp_path, queues="inference", DATABASE_URL=proxied_url)
    try:
        with uvicorn_server(child_environment(DATABASE_URL=proxied_url), tmp_path / "uvicorn.log") as url:
            for frame in frames:
                frame_submit_for_analysis(frame_id=frame.pk, image_bytes=sample_frames.face_jpeg())
            health = httpx.get(f"{url}/healthz", timeout=20)
            assert health.status_code == 503 and "database" in health.json()["failing"]
            assert health.json()["checks"]["redis"]["ok"] is True
            wait_until(lambda: "Retry in" in worker.log(), 30, worker.log)
            assert Frame.objects.filter(outcome=Frame.Outcome.PENDING).count() == 4  # nothing recorded, nothing lost

            proxy.restore()
            wait_until(lambda: not Frame.objects.filter(outcome=Frame.Outcome.PENDING).exists(), 60, worker.log)
            assert httpx.get(f"{url}/healthz", timeout=20).status_code == 200
    finally:
        stop(worker.process)
        proxy.close()
    assert Frame.objects.filter(outcome=Frame.Outcome.PREDICTION).count() == 4
    assert not Prediction.objects.values("frame").annotate(n=Count("id")).filter(n__gt=1).exists()
    assert Prediction.objects.count() == 4


@pytest.mark.django_db(transaction=True)
def test_a_postgresql_restart_under_the_web_server_costs_no_upload(tmp_path):
    """A PostgreSQL restart, in its two halves, under gunicorn (config.wsgi). Every backend ended
    leaves the web server's threads holding dead persistent connections: the health check before a
    request reuses one (CONN_HEALTH_CHECKS) finds it closed and connects again, so the next uploads
    succeed. While the server cannot be reached at all, an upload answers 503 with Retry-After
    (never a 500), and the tester page sends it again: it is stored once the server is back."""
    from config.celery import app
    from tests.load.servers import gunicorn_server

    app.control.purge()
    _study, token, tester = consenting_study()
    variant = tester.variant_order[0]
    db = connection.settings_dict
    proxy = TcpProxy((db.get("HOST") or "127.0.0.1", int(db.get("PORT") or 5432)))
    proxied_url = conftest.test_database_url().replace(f":{db.get('PORT') or 5432}/", f":{proxy.port}/")
    # Only the web server's backends are ended (libpq names them from PGAPPNAME): the suite's own
    # connections and the shared Celery worker's must survive for the tests that follow.
    env = child_environment(DATABASE_URL=proxied_url, PGAPPNAME="mimik-web-under-test", DATABASE_CONN_MAX_AGE="60")
    try:
        with gunicorn_server(env, tmp_path / "gunicorn.log", workers=2, threads=2) as url:
            statuses = [upload(url, token, variant, sequence).status_code for sequence in range(8)]
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND application_name = 'mimik-web-under-test'"
                )
                assert len(cursor.fetchall()) >= 1
            statuses += [upload(url, token, variant, sequence).status_code for sequence in range(8, 16)]
            proxy.cut()
            away = upload(url, token, variant, 16)
            proxy.restore()
            statuses.append(upload(url, token, variant, 16).status_code)
    finally:
        proxy.close()
    assert statuses == [204] * 17
    assert away.status_code == 503 and int(away.headers["Retry-After"]) > 0, away.text
    assert away.json()["extra"] == {"service": "database"}
    assert Frame.objects.count() == 17
    app.control.purge()


@pytest.mark.django_db(transaction=True)
def test_a_frame_a_killed_worker_had_taken_but_not_yet_recorded_is_analysed_by_the_next(tmp_path):
    """A worker takes a message with BLMOVE into its own in-flight list and records it as
    unacknowledged right after; killed in between, it leaves the message there. The next worker's
    restore pass gives it back to the queue once it is older than the visibility timeout."""
    from config.celery import app

    app.control.purge()
    model_version_ensure_default()
    _study, _token, tester = consenting_study()
    frame = Frame.objects.create(
        campaign_id=tester.campaign_id, tester=tester, variant_id=tester.variant_order[0], sequence=0, media_time_ms=0
    )
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    frame_submit_for_analysis(frame_id=frame.pk, image_bytes=sample_frames.face_jpeg())
    # What a worker's BLMOVE does; killed before it recorded the message, it leaves it there.
    dead_workers_list = f"{INFLIGHT_PREFIX}:{uuid.uuid4().hex}:{INFERENCE_QUEUE}"
    assert broker.lmove(INFERENCE_QUEUE, dead_workers_list, "RIGHT", "LEFT") is not None
    time.sleep(2.5)  # Redis counts idle time in whole seconds; the worker below waits for 1 s

    worker = start_celery_worker(tmp_path, queues="inference", CELERY_VISIBILITY_TIMEOUT="1")
    try:
        wait_until(lambda: not Frame.objects.filter(pk=frame.pk, outcome="pending").exists(), 30, worker.log)
    finally:
        stop(worker.process)
    assert Frame.objects.get(pk=frame.pk).outcome == Frame.Outcome.PREDICTION
    assert Prediction.objects.filter(frame=frame).count() == 1
    assert not broker.exists(dead_workers_list)
