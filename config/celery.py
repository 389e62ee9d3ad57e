"""The Celery app. Queue names live here, in one place; so does the broker transport we use."""

import logging
import os
import time
import uuid
from contextlib import contextmanager
from queue import Empty

from celery import Celery
from kombu import Queue
from kombu.transport import redis as kombu_redis
from kombu.transport import virtual as kombu_virtual
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import dumps, loads

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
logger = logging.getLogger(__name__)

DEFAULT_QUEUE = "default"  # e-mail, housekeeping
INFERENCE_QUEUE = "inference"  # the primary CNN: latency matters
SECOND_OPINION_QUEUE = "second_opinion"  # an optional second model, never in the primary's way


class InflightSafeQoS(kombu_redis.QoS):
    """kombu's QoS, which also gives back what a dead consumer left in its in-flight list, records
    a message taken with BLMOVE as unacknowledged without sending it back to Redis, and can
    acknowledge a batch of messages in one round trip (`acks_together`)."""

    _deferred_acks: list | None = None

    def restore_visible(self, start=0, num=10, interval=10):
        if self._vrestore_count % interval == 0:  # the pass on which kombu restores the unacked hash
            with self.channel.conn_or_acquire() as client:
                restore_inflight(client, idle_seconds=self.visibility_timeout)
        super().restore_visible(start, num, interval)

    def append(self, message, delivery_tag):
        """kombu stores `[payload, exchange, routing key]` in the unacked hash: it JSON-encodes the
        ~40 kB message again and sends it back to Redis, then the channel deletes its in-flight
        list in a second round trip. A message that came by BLMOVE is still in that list, so one
        script writes the same entry from it, inside Redis, and deletes the list in the same step
        (atomically: a kill leaves the message either in the list or in the hash)."""
        taking = self.channel._taking  # (in-flight list, its message parsed) during a delivery
        if taking is None or message._raw is not taking[1]:  # not the message in that list
            return super().append(message, delivery_tag)
        inflight_key = taking[0]
        delivery = message.delivery_info
        rest = "," + dumps(delivery["exchange"]) + "," + dumps(delivery["routing_key"]) + "]"
        with self.channel.conn_or_acquire() as client:
            moved = _unacked_from_inflight(client)(
                keys=[inflight_key, self.unacked_index_key, self.unacked_key], args=[time.time(), delivery_tag, rest]
            )
        if not moved:  # not in the list after all: kombu's own way
            return super().append(message, delivery_tag)
        self.channel._inflight_recorded = True
        return kombu_virtual.QoS.append(self, message, delivery_tag)

    @contextmanager
    def acks_together(self):
        """Acknowledge the messages `ack`ed within in one round trip at the end (kombu: one per
        message). Should that round trip fail, the messages stay in the unacked hash and are
        redelivered after the visibility timeout, as after a failed `ack`."""
        self._deferred_acks = tags = []
        try:
            yield
        finally:
            self._deferred_acks = None
            if tags:
                try:
                    with self.pipe_or_acquire() as pipe:
                        pipe.zrem(self.unacked_index_key, *tags).hdel(self.unacked_key, *tags).execute()
                except self.channel.connection_errors as error:
                    logger.warning("Could not acknowledge %s messages: %r", len(tags), error)

    def ack(self, delivery_tag):
        if self._deferred_acks is None:
            return super().ack(delivery_tag)
        self._deferred_acks.append(delivery_tag)
        return kombu_virtual.QoS.ack(self, delivery_tag)


# KEYS: in-flight list, unacked index, unacked hash; ARGV: time, delivery tag, the rest of the
# entry after the payload. What kombu's QoS.append writes, built from the list's one message.
_UNACKED_FROM_INFLIGHT = """
local payload = redis.call('LINDEX', KEYS[1], 0)
if not payload then return 0 end
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[2], '[' .. payload .. ARGV[3])
redis.call('DEL', KEYS[1])
return 1
"""


def _unacked_from_inflight(client):
    """The script, registered once per client (EVALSHA, loaded again after a Redis restart)."""
    script = getattr(client, "_mimik_unacked_from_inflight", None)
    if script is None:
        script = client._mimik_unacked_from_inflight = client.register_script(_UNACKED_FROM_INFLIGHT)
    return script


@contextmanager
def acks_together(message):
    """`InflightSafeQoS.acks_together` for the channel that delivered `message`; elsewhere (the
    memory transport of the tests) acknowledgements as they come."""
    qos = getattr(getattr(message, "channel", None), "qos", None)
    if isinstance(qos, InflightSafeQoS):
        with qos.acks_together():
            yield
    else:
        yield


INFLIGHT_PREFIX = "_mimik.inflight"


def restore_inflight(client, *, idle_seconds: float) -> int:
    """Move the messages of in-flight lists nobody has touched for `idle_seconds` (their consumer
    died between taking a message and recording it as unacknowledged) back to their queue, to be
    consumed next. A live consumer's list holds one message for a moment and then is empty, and
    Redis deletes empty lists: any list this old is a dead consumer's. Returns how many moved."""
    moved = 0
    for key in client.scan_iter(match=f"{INFLIGHT_PREFIX}:*", count=100):
        idle = client.object("idletime", key)
        if idle is None or idle < idle_seconds:
            continue
        queue = key.decode().split(":", 2)[2]
        while client.lmove(key, queue, "RIGHT", "RIGHT") is not None:
            moved += 1
    return moved


class ReusedClientChannel(kombu_redis.Channel):
    """kombu's Redis channel, with two changes that matter to the frames.

    It reuses one `redis.Redis` object: kombu builds a new one for every publish, delivery and
    acknowledgement (`conn_or_acquire`), and building one copies redis-py's ~250 response
    callbacks into a case-insensitive dict: ~0.35 ms of CPU each time, three times per frame,
    more than the rest of the publish. A `redis.Redis` is thread-safe and borrows a connection
    from the pool per command, so one per pool does.

    It closes kombu's window for losing a message: BRPOP removes the message from the queue, and
    only after the worker has read and parsed the reply is it written to the unacknowledged hash;
    a worker SIGKILLed in between (while it prefetches, a reply is always on its way) loses that
    message for good. With one queue to consume (an inference worker), BLMOVE takes the message
    into this channel's own in-flight list in the same step, and it is removed from there once it
    is in the unacked hash; `InflightSafeQoS` gives back what a killed worker left there. Workers
    that consume several queues keep kombu's BRPOP. Message priorities are not used here, so
    each queue is one Redis list (`priority_steps`), which is what BLMOVE can wait on."""

    QoS = InflightSafeQoS
    priority_steps = [0]
    _reused_client = None
    _inflight_key: str | None = None
    _taking: tuple[str, dict] | None = None  # the in-flight list and its message, while delivered
    _inflight_recorded = False  # the QoS moved the message from the in-flight list itself

    @contextmanager
    def conn_or_acquire(self, client=None):
        if client:
            yield client
            return
        reused = self._reused_client
        if reused is None or reused.connection_pool is not self.pool:  # the pool is rebuilt after errors
            reused = self._reused_client = self._create_client()
        yield reused

    def _brpop_start(self, timeout=1):
        queues = self._queue_cycle.consume(len(self.active_queues))
        if len(queues) != 1 or self.global_keyprefix:
            self._inflight_key = None
            return super()._brpop_start(timeout)
        queue = queues[0]
        self._inflight_key = f"{INFLIGHT_PREFIX}:{uuid.uuid4().hex}:{queue}"
        self._in_poll = self.client.connection
        self.client.connection.send_command("BLMOVE", queue, self._inflight_key, "RIGHT", "LEFT", timeout or 0)
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
            queue = inflight_key.split(":", 2)[2]
            self._queue_cycle.rotate(queue)
            self._inflight_recorded = False
            try:
                payload = loads(bytes_to_str(item))
                self._taking = (inflight_key, payload)
                self.connection._deliver(payload, queue)
            finally:
                self._taking = None
                # Now in the unacked hash (or refused: kombu would have dropped it too).
                if not self._inflight_recorded:
                    with self.conn_or_acquire() as client:
                        client.delete(inflight_key)
            return True
        finally:
            self._in_poll = None


class RedisTransport(kombu_redis.Transport):
    """`redis://` with ReusedClientChannel; settings.CELERY_BROKER_TRANSPORT names it."""

    Channel = ReusedClientChannel


app = Celery("mimik")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(DEFAULT_QUEUE), Queue(INFERENCE_QUEUE), Queue(SECOND_OPINION_QUEUE)]
app.conf.task_default_queue = DEFAULT_QUEUE
app.autodiscover_tasks()
