"""Celery tasks for the researcher's side. The logic lives in campaigns.services."""

from __future__ import annotations

from celery import shared_task
from django.db import InterfaceError, OperationalError

from campaigns.services import invitation_send, invitations_erase_expired
from config.celery import DEFAULT_QUEUE


@shared_task(
    queue=DEFAULT_QUEUE,
    acks_late=True,
    soft_time_limit=30,
    time_limit=60,
    # Only a lost database connection is worth retrying; a mail failure is recorded as "bounced".
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=5,
)
def invitation_send_task(invitation_id: int, token: str) -> bool:
    return invitation_send(invitation_id=invitation_id, token=token)


@shared_task(
    name="campaigns.erase_expired_invitations",
    queue=DEFAULT_QUEUE,
    acks_late=True,
    soft_time_limit=120,
    time_limit=180,
    autoretry_for=(OperationalError, InterfaceError),
    retry_backoff=2,
    retry_backoff_max=60,
    max_retries=5,
)
def erase_expired_invitations() -> int:
    """Celery beat, hourly: repeating it erases nothing twice (erased rows are excluded)."""
    return invitations_erase_expired()
