"""The Celery app. Queue names live here, in one place; so does the broker transport we use."""

import os
import uuid
from queue import Empty

from celery import Celery
from kombu import Queue
from kombu.transport import redis as kombu_redis
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

DEFAULT_QUEUE = "default"  # e-mail, housekeeping
INFERENCE_QUEUE = "inference"  # the primary CNN: latency matters
SECOND_OPINION_QUEUE = "second_opinion"  # an optional second model, never in the primary's way
# The tasks that uploads are handed to: the tester API publishes them by name (sessions.analysis_queue).
FRAME_ANALYSIS_TASK = "inference.analyse_frame"
BASELINE_ANALYSIS_TASK = "inference.analyse_baseline_snapshot"

# The in-flight list below overrides two private methods of kombu's Redis channel (`_brpop_start`,
# `_brpop_read`), which any kombu release may change: it was written for this release, and
# tests/test_broker_pin.py fails on any other until the override has been checked against it.
KOMBU_VERSION_FOR_INFLIGHT_LIST = "5.5.4"
INFLIGHT_PREFIX = "_mimik.inflight"


def restore_inflight(client, *, idle_seconds: float) -> int:
    """Move the messages of in-flight lists nobody has touched for `idle_seconds` (their consumer
    died between taking a message and recording it as unacknowledged) back to their queue, to be
    consumed next. A live consumer's list holds one message for a moment and then is deleted:
    any list this old is a dead consumer's. Returns how many moved."""
    moved = 0
    for key in client.scan_iter(match=f"{INFLIGHT_PREFIX}:*", count=100):
        idle = client.object("idletime", key)
        if idle is None or idle < idle_seconds:
            continue
        queue = key.decode().split(":", 2)[2]
        while client.lmove(key, queue, "RIGHT", "RIGHT") is not None:
            moved += 1
    return moved


class InflightListQoS(kombu_redis.QoS):
    """kombu's QoS, whose pass over old unacknowledged messages also gives back what dead
    consumers left in their in-flight lists, as often as kombu's own pass does its work."""

    _restore_calls = 0

    def restore_visible(self, start=0, num=10, interval=10):
        if self._restore_calls % interval == 0:
            with self.channel.conn_or_acquire() as client:
                restore_inflight(client, idle_seconds=self.visibility_timeout)
        self._restore_calls += 1
        super().restore_visible(start, num, interval)


class InflightListChannel(kombu_redis.Channel):
    """kombu's Redis channel without its window for losing a message.

    kombu's BRPOP removes the message from the queue, and only after the worker has read and
    parsed the reply is it written to the unacknowledged hash: a worker SIGKILLed in between
    (while it prefetches, a reply is always on its way) loses that message for good. With one
    queue to consume (an inference worker), BLMOVE takes the message into an in-flight list of its
    own in the same step, and the list is deleted once kombu has recorded the message as
    unacknowledged; `InflightListQoS` gives back what a killed worker left there. Killed between
    those two steps, a worker leaves the message in both, and it is delivered twice: the tasks'
    conditional claims make a repeat harmless. Workers that consume several queues keep BRPOP.
    Message priorities are not used here, so each queue is one Redis list (`priority_steps`),
    which is what BLMOVE can wait on."""

    QoS = InflightListQoS
    priority_steps = [0]
    _inflight_key: str | None = None

    def _brpop_start(self, timeout=1):
        queues = list(self.active_queues)
        if len(queues) != 1 or self.global_keyprefix:
            self._inflight_key = None
            return super()._brpop_start(timeout)
        self._inflight_key = f"{INFLIGHT_PREFIX}:{uuid.uuid4().hex}:{queues[0]}"
        self._in_poll = self.client.connection
        self.client.connection.send_command("BLMOVE", queues[0], self._inflight_key, "RIGHT", "LEFT", timeout or 0)
        return None

    def _brpop_read(self, **options):
        inflight_key = self._inflight_key
        if inflight_key is None:
            return super()._brpop_read(**options)
        try:
            try:
                item = self.client.parse_response(self.client.connection, "BLMOVE", **options)
            except self.connection_errors:
                self.client.connection.disconnect()  # reconnect on the next iteration, as kombu does
                raise
            if item is None:
                raise Empty()
            try:
                self.connection._deliver(loads(bytes_to_str(item)), inflight_key.split(":", 2)[2])
            finally:
                # In the unacked hash now (or refused, which kombu would have dropped too).
                self.client.delete(inflight_key)
            return True
        finally:
            self._in_poll = None


class RedisTransport(kombu_redis.Transport):
    """`redis://` with InflightListChannel; settings.CELERY_BROKER_TRANSPORT names it."""

    Channel = InflightListChannel


app = Celery("mimik")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(DEFAULT_QUEUE), Queue(INFERENCE_QUEUE), Queue(SECOND_OPINION_QUEUE)]
app.conf.task_default_queue = DEFAULT_QUEUE
app.autodiscover_tasks()
