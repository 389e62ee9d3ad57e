"""Writes of the reports app: share links are made and revoked here only."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import Campaign
from campaigns.tokens import new_token
from config.errors import ApplicationError
from reports.models import ReportLink

DEFAULT_LINK_DAYS = 14
# A report passed on keeps being read long after it was made: a link cannot outlive a quarter.
MAX_LINK_DAYS = 90


def report_link_create(
    *, campaign: Campaign, created_by: AbstractBaseUser | None, days: int = DEFAULT_LINK_DAYS
) -> tuple[ReportLink, str]:
    """A new share link to the campaign's report, valid for `days` days. Returns (link, token): the
    token is not stored, so this is the one chance to show it."""
    if not 1 <= days <= MAX_LINK_DAYS:
        raise ApplicationError(
            _("A share link lasts from 1 to %(max)s days.") % {"max": MAX_LINK_DAYS}, extra={"days": days}
        )
    token, token_hash = new_token()
    now = timezone.now()
    link = ReportLink.objects.create(
        campaign=campaign,
        token_hash=token_hash,
        created_by=created_by,
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    return link, token


@transaction.atomic
def report_link_revoke(*, link: ReportLink) -> ReportLink:
    """The link stops working at once; revoking it again changes nothing."""
    locked = ReportLink.objects.select_for_update().get(pk=link.pk)
    if locked.revoked_at is None:
        locked.revoked_at = timezone.now()
        locked.save(update_fields=["revoked_at"])
    return locked
