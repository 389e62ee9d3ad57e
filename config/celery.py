"""The Celery app. Queue names live here, in one place."""

import os

from celery import Celery
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

DEFAULT_QUEUE = "default"  # e-mail, housekeeping
INFERENCE_QUEUE = "inference"  # the primary CNN: latency matters
SECOND_OPINION_QUEUE = "second_opinion"  # an optional second model, never in the primary's way

app = Celery("mimik")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue(DEFAULT_QUEUE), Queue(INFERENCE_QUEUE), Queue(SECOND_OPINION_QUEUE)]
app.conf.task_default_queue = DEFAULT_QUEUE
app.autodiscover_tasks()
