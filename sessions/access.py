"""The one way a tester's link becomes a Tester: every page, media view and API call goes through
get_tester_for_token, so expiry, revocation, withdrawal and guessing limits are decided here only."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import status

from campaigns.models import Campaign, Invitation
from campaigns.tokens import hash_token
from config.errors import ApplicationError
from sessions.models import Tester

# Failed lookups per client address and minute before we answer 429: a real tester mistypes a
# link a few times at most; anyone trying tokens in bulk is slowed to a crawl.
FAILED_LOOKUPS_PER_MINUTE = 20


class LinkUnavailable(ApplicationError):
    """The link cannot be used (any more). `reason` picks the page a tester sees."""

    UNKNOWN = "unknown"
    EXPIRED = "expired"
    REVOKED = "revoked"
    WITHDRAWN = "withdrawn"
    TOO_MANY_ATTEMPTS = "too_many_attempts"

    MESSAGES = {
        UNKNOWN: _("This link is not valid."),
        EXPIRED: _("This link has expired."),
        REVOKED: _("This invitation has been withdrawn by the research team."),
        WITHDRAWN: _("You have withdrawn from this study. Nothing more is recorded."),
        TOO_MANY_ATTEMPTS: _("Too many attempts. Please wait a minute and try again."),
    }

    def __init__(self, reason: str, *, retry_after: int | None = None) -> None:
        self.reason = reason
        status_code = status.HTTP_429_TOO_MANY_REQUESTS if retry_after else status.HTTP_404_NOT_FOUND
        headers = {"Retry-After": str(retry_after)} if retry_after else None
        super().__init__(str(self.MESSAGES[reason]), extra={"reason": reason}, status_code=status_code, headers=headers)


def minute_window_count(key: str) -> tuple[int, int]:
    """Increment a per-minute counter in the cache (Redis): (count so far, seconds until reset)."""
    now = time.time()
    window_key = f"{key}:{int(now // 60)}"
    cache.add(window_key, 0, timeout=70)
    try:
        count = cache.incr(window_key)
    except ValueError:  # expired between add and incr
        cache.set(window_key, 1, timeout=70)
        count = 1
    return count, max(1, 60 - int(now % 60))


def _client_address(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "unknown")


def _refuse_if_guessing(request: HttpRequest) -> None:
    failures = cache.get(f"tester-token-failures:{_client_address(request)}:{int(time.time() // 60)}", 0)
    if failures >= FAILED_LOOKUPS_PER_MINUTE:
        raise LinkUnavailable(LinkUnavailable.TOO_MANY_ATTEMPTS, retry_after=max(1, 60 - int(time.time() % 60)))


def _record_failure(request: HttpRequest) -> None:
    minute_window_count(f"tester-token-failures:{_client_address(request)}")


def _check_invitation(invitation: Invitation | None) -> None:
    if invitation is None:
        return
    if invitation.withdrawn_at is not None:
        raise LinkUnavailable(LinkUnavailable.WITHDRAWN)
    if invitation.revoked_at is not None:
        raise LinkUnavailable(LinkUnavailable.REVOKED)
    if invitation.expires_at <= timezone.now():
        raise LinkUnavailable(LinkUnavailable.EXPIRED)


def get_tester_for_token(request: HttpRequest, token: str, *, for_withdrawal: bool = False) -> Tester:
    """The tester behind a link (an invitation's or an open-link tester's own token).

    An invitation's first visit creates its pseudonymous Tester. Expired and revoked invitations
    raise LinkUnavailable, except for withdrawal: leaving a study stays possible after the link
    closed. Unknown tokens count against the caller's address (429 after too many).
    """
    _refuse_if_guessing(request)
    token_hash = hash_token(token or "")
    tester = Tester.objects.select_related("campaign", "invitation").filter(token_hash=token_hash).first()
    if tester is not None:
        if not for_withdrawal:
            _check_invitation(tester.invitation)
        return tester
    invitation = Invitation.objects.select_related("campaign").filter(token_hash=token_hash).first()
    if invitation is None:
        _record_failure(request)
        raise LinkUnavailable(LinkUnavailable.UNKNOWN)
    if invitation.withdrawn_at is not None or not for_withdrawal:
        _check_invitation(invitation)
    from sessions.services import tester_create_for_invitation  # services import this module

    return tester_create_for_invitation(invitation=invitation)


def get_campaign_for_open_link(request: HttpRequest, token: str) -> Campaign:
    """The campaign behind an open link; unknown tokens count against the caller like above."""
    _refuse_if_guessing(request)
    campaign = Campaign.objects.filter(open_link_token_hash=hash_token(token or "")).exclude(open_link_token_hash="")
    campaign = campaign.first()
    if campaign is None:
        _record_failure(request)
        raise LinkUnavailable(LinkUnavailable.UNKNOWN)
    return campaign


def frame_rate_limit(*, tester: Tester, kind: str = "frames") -> None:
    """429 with Retry-After once a tester sends more than the configured snapshots per minute."""
    limit = settings.MIMIK["FRAME_RATE_LIMIT_PER_MINUTE"]
    count, retry_after = minute_window_count(f"tester-{kind}:{tester.pk}")
    if count > limit:
        raise ApplicationError(
            str(_("Too many snapshots; please slow down.")),
            extra={"limit_per_minute": limit},
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            headers={"Retry-After": str(retry_after)},
        )
