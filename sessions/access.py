"""The one way a tester's link becomes a Tester: every page, media view and API call goes through
get_tester_for_token, so expiry, revocation, withdrawal and guessing limits are decided here only."""

from __future__ import annotations

import functools
import logging
import os
import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import status

from campaigns.models import Campaign, Invitation
from campaigns.tokens import hash_token
from config.errors import REDIS_UNAVAILABLE, ApplicationError
from sessions.models import Tester

# Failed lookups per client address and minute before we answer 429: a real tester mistypes a
# link a few times at most; anyone trying tokens in bulk is slowed to a crawl.
FAILED_LOOKUPS_PER_MINUTE = 20
WINDOW_TTL_SECONDS = 70
logger = logging.getLogger(__name__)


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


def get_tester_for_upload(request: HttpRequest, token: str, *, kind: str = "frames") -> Tester:
    """get_tester_for_token for the snapshot API, which a tester calls every second: the same
    answers (404 / 429 for guessing, the link's state) and then 429 with Retry-After once the
    tester sends more than FRAME_RATE_LIMIT_PER_MINUTE, in one Redis round trip (the tester's
    counter, keyed by the token's hash, the address's failures and the upload generations) and at
    most one query (the tester, the campaign's status and the invitation's state), skipped while
    this process' copy of that row is current (UploadRows, below). The tester's `campaign`
    holds id and status only; `invitation` is not loaded."""
    token_hash = hash_token(token or "")
    count, retry_after, failures, generation = _upload_round_trip(kind, token_hash, _failures_key(request))
    _refuse_if_guessing(request, failures)
    row = _upload_rows.get(token_hash, generation)
    if row is None:
        row = _upload_row(token_hash)
        if row is not None:
            _upload_rows.put(token_hash, generation, row)
    if row is None:  # unknown, or an invitation never opened: the general path decides (404 ...)
        tester = get_tester_for_token(request, token)
    else:
        tester = _tester_from_row(row)
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
    return tester


# --- The upload's tester row, cached per process ------------------------------------------------
#
# Every upload needs the same few fields of its tester, its campaign's status and its invitation's
# state. Each web process keeps the row it read, valid while two generation values in Redis are
# unchanged: one per token (consent, decline, withdrawal, revocation, a resent link) and one for
# all testers (a campaign's status, a deleted variant). The values come in the upload's one Redis
# round trip, next to the rate-limit counter. A write that changes whether a tester may upload
# deletes the generation key after it commits (upload_eligibility_changed); the next upload in any
# process then finds a new value and reads the row again. A key is set (to a random value, only if
# absent) in the round trip BEFORE the row is read, so a row read before a commit is never filed
# under a generation set after it. An invitation's expiry is compared here, on every upload.
GENERATION_TTL_SECONDS = 24 * 3600
# A backstop for writes that bypass the services (the admin, a shell) and for a generation delete
# lost to Redis failing right after a commit; not what makes a withdrawal take effect.
UPLOAD_ROW_MAX_AGE_SECONDS = 60
UPLOAD_ROWS_MAX = 20_000
ALL_TESTERS = "all"


def _generation_key(scope: str) -> str:
    return f"{settings.CACHES['default'].get('KEY_PREFIX', '')}:upload-generation:{scope}"


# One script instead of a six-command pipeline: redis-py spends more CPU packing commands and
# parsing replies than Redis spends running them. The counter's expiry is set once, when the
# window's first request creates it.
UPLOAD_ROUND_TRIP_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
redis.call('SET', KEYS[3], ARGV[2], 'NX', 'EX', ARGV[3])
redis.call('SET', KEYS[4], ARGV[2], 'NX', 'EX', ARGV[3])
return {count, redis.call('GET', KEYS[2]), redis.call('GET', KEYS[3]), redis.call('GET', KEYS[4])}
"""


@functools.cache
def _upload_round_trip_script():
    return _redis().register_script(UPLOAD_ROUND_TRIP_SCRIPT)


def _upload_round_trip(kind: str, token_hash: str, failures_key: str) -> tuple[int, int, int, tuple | None]:
    """minute_window_count for the tester's upload counter with the address's failures peeked,
    plus the generations of this token and of all testers, in one round trip. Without Redis (the
    embedded fallback) the generation is None and nothing is cached."""
    if _redis() is None:
        count, retry_after, failures = minute_window_count(f"tester-{kind}:{token_hash[:32]}", peek=failures_key)
        return count, retry_after, failures, None
    now = time.time()
    keys = [
        _window(f"tester-{kind}:{token_hash[:32]}", now),
        _window(failures_key, now),
        _generation_key(token_hash[:32]),
        _generation_key(ALL_TESTERS),
    ]
    count, failures, *generation = _upload_round_trip_script()(
        keys, [WINDOW_TTL_SECONDS, os.urandom(8).hex(), GENERATION_TTL_SECONDS]
    )
    return count, _seconds_left(now), int(failures or 0), tuple(generation)


class UploadRows:
    """token hash -> (generation, time read, row) in this process. Thread-safe through the GIL:
    single dict operations only."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[tuple, float, tuple]] = {}

    def get(self, token_hash: str, generation: tuple | None) -> tuple | None:
        entry = self.rows.get(token_hash)
        if entry is None or generation is None or entry[0] != generation:
            return None
        if time.monotonic() - entry[1] > UPLOAD_ROW_MAX_AGE_SECONDS:
            return None
        return entry[2]

    def put(self, token_hash: str, generation: tuple | None, row: tuple) -> None:
        if generation is None or None in generation:
            return
        if len(self.rows) >= UPLOAD_ROWS_MAX:
            self.rows.clear()
        self.rows[token_hash] = (generation, time.monotonic(), row)


_upload_rows = UploadRows()


def upload_eligibility_changed(*, token_hash: str | None = None) -> None:
    """Call inside the write's transaction: once it commits, every process reads the tester's
    upload row again (the one token's, or with no token_hash, every tester's)."""
    keys = [_generation_key(token_hash[:32] if token_hash else ALL_TESTERS)]

    def forget() -> None:
        client = _redis()
        if client is None:
            return
        try:
            client.delete(*keys)
        except REDIS_UNAVAILABLE:
            # The write has committed; failing it now would tell the user it did not. Uploads are
            # refused (503) while Redis is away, and the rows expire within UPLOAD_ROW_MAX_AGE_SECONDS.
            logger.exception("Could not invalidate the upload rows %s", keys)

    transaction.on_commit(forget)


# The tester's fields the upload path reads (tester_capture_check, frame_accept); any other field
# is deferred and loads on first access, like .only().
UPLOAD_TESTER_FIELDS = {"id", "campaign", "invitation", "consented_at", "declined_at", "variant_order"}


@functools.cache
def _upload_tester_fields() -> list:
    """UPLOAD_TESTER_FIELDS in the model's order (Model.from_db expects that order)."""
    return [field for field in Tester._meta.concrete_fields if field.name in UPLOAD_TESTER_FIELDS]


@functools.cache
def _tester_for_upload_sql(vendor: str) -> str:
    """Built once from the models (the ORM would compile the same join on every request, and a raw
    queryset inspects every column's description on every row). The CASE follows
    _check_invitation's order: withdrawn, revoked ('' if neither); expiry is compared in Python
    (_tester_from_row), since the row may be reused."""
    q = connection.ops.quote_name
    tester, campaign, invitation = Tester._meta, Campaign._meta, Invitation._meta

    def column(meta, name: str) -> str:
        return q(meta.get_field(name).column)

    columns = ", ".join(f"t.{q(field.column)}" for field in _upload_tester_fields())
    return (
        f"SELECT {columns}, c.{column(campaign, 'status')}, CASE"  # noqa: S608 - names from the models
        f" WHEN i.{column(invitation, 'withdrawn_at')} IS NOT NULL THEN '{LinkUnavailable.WITHDRAWN}'"
        f" WHEN i.{column(invitation, 'revoked_at')} IS NOT NULL THEN '{LinkUnavailable.REVOKED}'"
        f" ELSE '' END, i.{column(invitation, 'expires_at')}"
        f" FROM {q(tester.db_table)} t"
        f" JOIN {q(campaign.db_table)} c ON c.{q(campaign.pk.column)} = t.{column(tester, 'campaign')}"
        f" LEFT JOIN {q(invitation.db_table)} i ON i.{q(invitation.pk.column)} = t.{column(tester, 'invitation')}"
        f" WHERE t.{column(tester, 'token_hash')} = %s"
    )


@functools.cache
def _upload_row_converters(vendor: str) -> list:
    """(column, converters) per selected tester field and for the invitation's expiry, as the
    ORM's compiler applies them (JSON arrives as text; SQLite's dates and UUIDs as strings)."""
    columns = [field.get_col(Tester._meta.db_table) for field in _upload_tester_fields()]
    columns.append(Invitation._meta.get_field("expires_at").get_col(Invitation._meta.db_table))
    return [
        (column, connection.ops.get_db_converters(column) + column.get_db_converters(connection)) for column in columns
    ]


def _upload_row(token_hash: str) -> tuple | None:
    """(tester field values, campaign status, invitation state, invitation expiry), converted to
    Python values; None for an unknown token."""
    with connection.cursor() as cursor:
        cursor.execute(_tester_for_upload_sql(connection.vendor), [token_hash])
        row = cursor.fetchone()
    if row is None:
        return None
    *values, campaign_status, invitation_state, expires_at = row
    values.append(expires_at)
    for index, (column, converters) in enumerate(_upload_row_converters(connection.vendor)):
        for converter in converters:
            values[index] = converter(values[index], column, connection)
    return tuple(values[:-1]), campaign_status, invitation_state, values[-1]


def _tester_from_row(row: tuple) -> Tester:
    """A new Tester (UPLOAD_TESTER_FIELDS, the rest deferred) with `campaign` holding id and status
    and `link_state` ('' or LinkUnavailable's reason), so no request shares another's object."""
    values, campaign_status, invitation_state, expires_at = row
    fields = _upload_tester_fields()
    tester = Tester.from_db(connection.alias, [field.attname for field in fields], list(values))
    tester.campaign = Campaign.from_db(connection.alias, ["id", "status"], [tester.campaign_id, campaign_status])
    if not invitation_state and expires_at is not None and expires_at <= timezone.now():
        invitation_state = LinkUnavailable.EXPIRED
    tester.link_state = invitation_state
    return tester
