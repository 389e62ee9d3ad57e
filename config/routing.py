"""Websocket routes. Each app adds its consumers here."""

from campaigns.dashboard.routing import websocket_urlpatterns as dashboard_websockets

websocket_urlpatterns = [*dashboard_websockets]
