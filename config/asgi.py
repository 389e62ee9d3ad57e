"""ASGI entry point: the dashboard's websockets (/ws/) through Channels.

Production serves HTTP on WSGI (config/wsgi.py, gunicorn) and sends only /ws/ here (deploy/Caddyfile);
`make run` serves both from this one process, HTTP through Django's own ASGI handler."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Sync code runs on changing executor threads here, so a connection kept per thread would outlive
# its thread: one connection per request or socket event instead (Django's "Persistent connections").
os.environ.setdefault("DATABASE_CONN_MAX_AGE", "0")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402  (needs Django set up first)
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from config.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
