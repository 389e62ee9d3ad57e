"""WSGI entry point: every HTTP request in production (gunicorn's sync workers, deploy/entrypoint.sh)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()
