"""Live dashboard socket: authenticate, join the campaign's group, relay its events. Nothing else."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.generic.websocket import JsonWebsocketConsumer
from django.http import Http404

from campaigns.live import campaign_group_name
from campaigns.selectors import get_campaign_for_user

CLOSE_NOT_LOGGED_IN = 4403
CLOSE_NO_SUCH_CAMPAIGN = 4404


class CampaignDashboardConsumer(JsonWebsocketConsumer):
    group_name: str | None = None

    def connect(self) -> None:
        refusal = self._join_campaign_group()
        # Accept even a refusal, so the browser receives our close code instead of a bare failed
        # handshake; a member is accepted only after joining, so no event can slip past meanwhile.
        self.accept()
        if refusal is not None:
            self.close(code=refusal)

    def _join_campaign_group(self) -> int | None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            return CLOSE_NOT_LOGGED_IN
        try:
            campaign = get_campaign_for_user(user, self.scope["url_route"]["kwargs"]["campaign_id"])
        except Http404:
            return CLOSE_NO_SUCH_CAMPAIGN
        self.group_name = campaign_group_name(campaign.pk)
        async_to_sync(self.channel_layer.group_add)(self.group_name, self.channel_name)
        return None

    def disconnect(self, code: int) -> None:
        if self.group_name is not None:
            async_to_sync(self.channel_layer.group_discard)(self.group_name, self.channel_name)

    def campaign_event(self, message: dict[str, Any]) -> None:
        self.send_json(message["event"])
