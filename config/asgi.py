"""ASGI entry point: HTTP through Django, websockets through Channels."""

import os

import django
from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.http import HttpRequest, HttpResponseBase

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Django keeps a database connection per thread, and under ASGI the sync code runs on changing
# executor threads, so persistent connections pile up (Django docs, "Persistent connections"):
# the load run ran PostgreSQL out of connections. So the web process borrows connections from a
# bounded pool per process (PostgreSQL; see DATABASE_POOL in settings) and returns them after
# each request; other databases open one per request. Workers keep CONN_MAX_AGE.
os.environ.setdefault("DATABASE_POOL", "1")
os.environ.setdefault("DATABASE_CONN_MAX_AGE", "0")


class SyncChainASGIHandler(ASGIHandler):
    """Django's ASGI handler with the middleware chain built as under WSGI (and the test client):
    one hop into a worker thread per request, where the whole chain and the view run. Every view
    and most middleware here are sync, so Django's async chain hopped thread -> event loop ->
    thread again around the view (async_to_sync, then sync_to_async): about 0.5 ms of CPU per
    request, a third of a bare 204's, for nothing."""

    def load_middleware(self, is_async: bool = False) -> None:
        super().load_middleware(is_async=False)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        return await sync_to_async(self.get_response, thread_sensitive=True)(request)


django.setup(set_prefix=False)  # what get_asgi_application() does before building its handler
django_asgi_app = SyncChainASGIHandler()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from config.body_limit import TesterApiBodyLimit  # noqa: E402
from config.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        # Snapshot bodies are read in memory and cut off at their limit before Django spools them.
        "http": TesterApiBodyLimit(django_asgi_app),
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
