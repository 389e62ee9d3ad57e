"""Websocket routes. Each app adds its consumers here."""

from dashboard.routing import websocket_urlpatterns as dashboard_websockets

websocket_urlpatterns = [*dashboard_websockets]
