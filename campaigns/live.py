"""Live events for a campaign's dashboard group. Publish only after the data is committed.

Publishing must cost a worker next to nothing: `async_to_sync(layer.group_send)` per frame started
an event loop and a Redis connection each time (about 4 ms, longer than the CNN). So with Redis,
an event goes into this process's buffer and one daemon thread, with its own long-lived event loop
and thus the channel layer's pooled connection, sends it. Per campaign and kind of event it sends
at most one event per PUBLISH_INTERVAL_SECONDS: the latest, with `"coalesced": n` added when it
stands for n events. Dashboards refetch their figures on any event, so they miss nothing, the last
state always arrives, and a busy campaign does not flood every open socket. The in-memory layer
(the embedded fallback, one process) keeps the direct call: its queues belong to the server's loop.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
import time
import uuid
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

PUBLISH_INTERVAL_SECONDS = 0.25
FLUSH_AT_EXIT_SECONDS = 2.0


def campaign_group_name(campaign_id: uuid.UUID | str) -> str:
    return f"campaign-{campaign_id}"


def publish_campaign_event(*, campaign_id: uuid.UUID | str, event: dict[str, Any], frames: int = 1) -> None:
    """Send `event` (a small JSON-able dict) to every dashboard watching the campaign, on commit.
    `frames` > 1: the event stands for that many (a worker's batch); it arrives with
    `"coalesced": n` like events merged here."""
    group = campaign_group_name(campaign_id)

    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        if isinstance(layer, InMemoryChannelLayer):
            _send_now(layer, group, event if frames == 1 else {**event, "coalesced": frames})
        else:
            _publisher().submit(group, event, count=frames)

    transaction.on_commit(send)


def publish_progress_event(campaign_id: uuid.UUID | str) -> None:
    """A tester of the campaign moved on (opened, consented, declined, completed, withdrew): open
    dashboards refetch the funnel, on commit. Call it inside the service's transaction; a rollback
    sends nothing. Coalesced like frame events, so a burst of testers costs one refetch."""
    publish_campaign_event(campaign_id=campaign_id, event={"kind": "progress"})


def _send_now(layer, group: str, event: dict[str, Any]) -> None:
    try:
        async_to_sync(layer.group_send)(group, {"type": "campaign.event", "event": event})
    except Exception:  # a dashboard that misses one event refetches; the data is safe in the DB
        logger.warning("Could not publish live event to %s", group, exc_info=True)


class _Publisher:
    """The process's sending thread and its buffer of the latest unsent event per (group, kind)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._pending: dict[tuple[str, str], tuple[dict[str, Any], int]] = {}
        self._last_sent: dict[tuple[str, str], float] = {}
        self._flush_requested = False
        self._idle = threading.Event()
        self._idle.set()
        self._thread = threading.Thread(target=self._run, name="campaign-live-events", daemon=True)
        self._thread.start()

    def submit(self, group: str, event: dict[str, Any], count: int = 1) -> None:
        key = (group, str(event.get("kind", "")))
        with self._lock:
            _older, pending = self._pending.get(key, (None, 0))
            self._pending[key] = (event, pending + count)
            self._idle.clear()
        self._wake.set()

    def flush(self, timeout: float) -> bool:
        """Send everything buffered now, ignoring the interval; True if done within `timeout`."""
        with self._lock:
            self._flush_requested = True
        self._wake.set()
        return self._idle.wait(timeout)

    def _take_due(self) -> tuple[list[tuple[str, dict[str, Any]]], float | None]:
        """The events to send now, and how long until the next one is due (None: nothing left)."""
        now = time.monotonic()
        due, wait = [], None
        with self._lock:
            for key, (event, count) in list(self._pending.items()):
                ready_at = self._last_sent.get(key, 0.0) + PUBLISH_INTERVAL_SECONDS
                if self._flush_requested or ready_at <= now:
                    del self._pending[key]
                    self._last_sent[key] = now
                    due.append((key[0], event if count == 1 else {**event, "coalesced": count}))
                else:
                    wait = min(wait if wait is not None else ready_at - now, ready_at - now)
            self._flush_requested = False
            # Forget campaigns that went quiet, so the map does not grow with every campaign ever.
            if len(self._last_sent) > 1000:
                self._last_sent = {k: t for k, t in self._last_sent.items() if now - t < PUBLISH_INTERVAL_SECONDS}
        return due, wait

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        wait: float | None = None
        while True:
            self._wake.wait(wait)
            self._wake.clear()
            due, wait = self._take_due()
            layer = get_channel_layer()
            for group, event in due:
                try:
                    loop.run_until_complete(layer.group_send(group, {"type": "campaign.event", "event": event}))
                except Exception:  # a dashboard that misses one event refetches; the data is safe in the DB
                    logger.warning("Could not publish live event to %s", group, exc_info=True)
            with self._lock:
                if not self._pending:
                    self._idle.set()


_publisher_lock = threading.Lock()
_publisher_instance: _Publisher | None = None
_publisher_pid: int | None = None


def _publisher() -> _Publisher:
    """One per process. Celery forks its pool children: a thread does not survive a fork, so a
    child that inherited its parent's publisher starts its own."""
    global _publisher_instance, _publisher_pid
    with _publisher_lock:
        if _publisher_instance is None or _publisher_pid != os.getpid():
            _publisher_instance, _publisher_pid = _Publisher(), os.getpid()
        return _publisher_instance


def flush_campaign_events(timeout: float = FLUSH_AT_EXIT_SECONDS) -> bool:
    """Send the buffered events now (tests, shutdown). True if nothing is left unsent."""
    if _publisher_instance is None or _publisher_pid != os.getpid():
        return True
    return _publisher_instance.flush(timeout)


atexit.register(flush_campaign_events)
