"""The one way a tester's link becomes a Tester: every page, media view and API call goes through
get_tester_for_token, so expiry, revocation, withdrawal and guessing limits are decided here only."""

from __future__ import annotations

import functools
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
WINDOW_TTL_SECONDS = 70


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


@functools.cache
def _redis():
    """One redis-py client per process for the counters (thread-safe, its connection pool reused);
    Django's RedisCache builds a client object per operation. None without Redis (the embedded
    fallback), where the counters live in Django's cache."""
    if not settings.REDIS_URL:
        return None
    import redis

    options = settings.CACHES["default"].get("OPTIONS", {})
    return redis.Redis.from_url(
        settings.REDIS_URL,
        socket_connect_timeout=options.get("socket_connect_timeout", 1),
        socket_timeout=options.get("socket_timeout", 1),
        health_check_interval=30,
    )


def _window(key: str, now: float) -> str:
    # In the cache's database and under its prefix, so cache.clear() resets the counters too.
    return f"{settings.CACHES['default'].get('KEY_PREFIX', '')}:counter:{key}:{int(now // 60)}"


def _seconds_left(now: float) -> int:
    return max(1, 60 - int(now % 60))


def minute_window_count(key: str, *, peek: str | None = None) -> tuple[int, int, int]:
    """Increment a per-minute counter in Redis: (count so far, seconds until reset, count of the
    `peek` counter, read without incrementing). One round trip (pipelined INCR + EXPIRE + GET).
    Redis errors propagate: the API and the pages answer them with 503 and Retry-After."""
    now = time.time()
    client = _redis()
    if client is None:
        window_key = _window(key, now)
        cache.add(window_key, 0, timeout=WINDOW_TTL_SECONDS)
        try:
            count = cache.incr(window_key)
        except ValueError:  # expired between add and incr
            cache.set(window_key, 1, timeout=WINDOW_TTL_SECONDS)
            count = 1
        peeked = cache.get(_window(peek, now), 0) if peek else 0
        return count, _seconds_left(now), peeked
    pipeline = client.pipeline(transaction=False)
    pipeline.incr(_window(key, now))
    pipeline.expire(_window(key, now), WINDOW_TTL_SECONDS)
    if peek:
        pipeline.get(_window(peek, now))
    replies = pipeline.execute()
    return replies[0], _seconds_left(now), int(replies[2] or 0) if peek else 0


def _failures_key(request: HttpRequest) -> str:
    return f"tester-token-failures:{request.META.get('REMOTE_ADDR', 'unknown')}"


def _failed_lookups(request: HttpRequest) -> int:
    now = time.time()
    client = _redis()
    key = _window(_failures_key(request), now)
    return int((client.get(key) if client is not None else cache.get(key)) or 0)


def _refuse_if_guessing(request: HttpRequest, failures: int | None = None) -> None:
    failures = _failed_lookups(request) if failures is None else failures
    if failures >= FAILED_LOOKUPS_PER_MINUTE:
        raise LinkUnavailable(LinkUnavailable.TOO_MANY_ATTEMPTS, retry_after=_seconds_left(time.time()))


def _record_failure(request: HttpRequest) -> None:
    minute_window_count(_failures_key(request))


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


# The upload gate's one query: the tester's fields the upload path reads (the rest loads on first
# access), its campaign's status, and its link's state in _check_invitation's order ('' while the
# link works; expiry by the database's clock). Plain SQL through Manager.raw(): the ORM would
# compile a three-table select_related() on every request, about 1 ms of CPU (bench.upload); and
# scalar subqueries, which PostgreSQL plans in a third of the time the same joins take.
UPLOAD_TESTER_SQL = f"""
SELECT t.id, t.campaign_id, t.invitation_id, t.consented_at, t.declined_at, t.variant_order,
    (SELECT c.status FROM {Campaign._meta.db_table} c WHERE c.id = t.campaign_id) AS campaign_status,
    COALESCE((
        SELECT CASE WHEN i.withdrawn_at IS NOT NULL THEN '{LinkUnavailable.WITHDRAWN}'
            WHEN i.revoked_at IS NOT NULL THEN '{LinkUnavailable.REVOKED}'
            WHEN i.expires_at <= CURRENT_TIMESTAMP THEN '{LinkUnavailable.EXPIRED}'
            ELSE '' END
        FROM {Invitation._meta.db_table} i WHERE i.id = t.invitation_id
    ), '') AS link_state
FROM {Tester._meta.db_table} t
WHERE t.token_hash = %s
"""  # noqa: S608 - table names from the models, no input


def get_tester_for_upload(request: HttpRequest, token: str, *, kind: str = "frames") -> Tester:
    """The one gate of the snapshot API, which a tester calls every second: a tester who may send
    a snapshot now, else the refusal. The link's answers as get_tester_for_token (404, 429 for
    guessing), then 429 with Retry-After past FRAME_RATE_LIMIT_PER_MINUTE (per `kind` of request),
    409 unless the campaign is running and 403 without consent. One Redis round trip (the tester's
    counter and the address's failures) and one query (UPLOAD_TESTER_SQL)."""
    token_hash = hash_token(token or "")
    count, retry_after, failures = minute_window_count(f"tester-{kind}:{token_hash[:32]}", peek=_failures_key(request))
    _refuse_if_guessing(request, failures)
    tester = next(iter(Tester.objects.raw(UPLOAD_TESTER_SQL, [token_hash])), None)
    if tester is None:  # unknown, or an invitation never opened: the general path decides (404 ...)
        tester = get_tester_for_token(request, token)
        tester.campaign_status, tester.link_state = tester.campaign.status, ""
    if tester.link_state:
        raise LinkUnavailable(tester.link_state)
    limit = settings.MIMIK["FRAME_RATE_LIMIT_PER_MINUTE"]
    if count > limit:
        raise ApplicationError(
            str(_("Too many snapshots; please slow down.")),
            extra={"limit_per_minute": limit},
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            headers={"Retry-After": str(retry_after)},
        )
    if tester.campaign_status != Campaign.Status.RUNNING:
        raise ApplicationError(str(_("This study is not running.")), status_code=status.HTTP_409_CONFLICT)
    if tester.consented_at is None or tester.declined_at is not None:
        raise ApplicationError(str(_("No consent to record snapshots.")), status_code=status.HTTP_403_FORBIDDEN)
    return tester
