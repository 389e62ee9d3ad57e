"""ASGI entry point: HTTP through Django, websockets through Channels."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Django keeps a database connection per thread, and under ASGI the sync code runs on changing
# executor threads, so persistent connections pile up (Django docs, "Persistent connections"):
# the load run ran PostgreSQL out of connections. So the web process borrows connections from a
# bounded pool per process (PostgreSQL; see DATABASE_POOL in settings) and returns them after
# each request; other databases open one per request. Workers keep CONN_MAX_AGE.
os.environ.setdefault("DATABASE_POOL", "1")
os.environ.setdefault("DATABASE_CONN_MAX_AGE", "0")
django_asgi_app = get_asgi_application()

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
