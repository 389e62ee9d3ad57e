"""Live events for a campaign's dashboard group. Publish only after the data is committed."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)


def campaign_group_name(campaign_id: uuid.UUID | str) -> str:
    return f"campaign-{campaign_id}"


def publish_campaign_event(*, campaign_id: uuid.UUID | str, event: dict[str, Any]) -> None:
    """Send `event` (a small JSON-able dict) to every dashboard watching the campaign, on commit."""

    def send() -> None:
        layer = get_channel_layer()
        if layer is None:
            return
        try:
            async_to_sync(layer.group_send)(
                campaign_group_name(campaign_id), {"type": "campaign.event", "event": event}
            )
        except Exception:  # a dashboard that misses one event refetches; the data is safe in the DB
            logger.warning("Could not publish live event for campaign %s", campaign_id, exc_info=True)

    transaction.on_commit(send)
