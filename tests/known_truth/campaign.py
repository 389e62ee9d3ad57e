"""A campaign whose truth is known, shared by the benchmark (`python -m tests.known_truth`) and the
test (tests/test_known_truth.py): plan which emotion every frame shows, send the frames through the
real upload API, wait for the workers, read the dashboard's JSON as a logged-in researcher, and
hold its numbers against the truth.

Only the plan (which face, which emotion) comes from here; everything the report prints about the
estimate comes from the product: the HTTP API stores the frames, the Celery workers find, gate and
classify the faces, PostgreSQL keeps the predictions and `/api/campaigns/<id>/dashboard/` computes
the ratios, the estimated shares and the paired comparisons.

The report against the truth is in tests/known_truth/report.py.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# --- The plan ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedFrame:
    tester: int  # index into the testers
    variant: str  # the variant's key ("A", "B")
    sequence: int  # per tester, as the page numbers its snapshots
    position: int  # frame number within the variant (its media time in capture intervals)
    label: str  # the emotion the frame truly shows


def plan_frames(
    variant_shares: Mapping[str, Mapping[str, float]],
    *,
    testers: int,
    frames_per_variant: int,
    seed: int,
    concentration: float = 30.0,
    viewing_orders: Sequence[Sequence[str]] | None = None,
) -> list[PlannedFrame]:
    """Every tester sees every variant; their own mix for a variant is drawn from a Dirichlet around
    the variant's shares (testers differ as real ones do, as in ml.quantification's simulation),
    then each frame's emotion from that mix. Frames follow the tester's viewing order."""
    random = np.random.default_rng(seed)
    frames = []
    for tester in range(testers):
        order = list(viewing_orders[tester]) if viewing_orders else list(variant_shares)
        drawn: dict[str, list[str]] = {}
        for variant, shares in variant_shares.items():  # draw in a fixed order, whatever the viewing order
            names = list(shares)
            weights = np.array([shares[name] for name in names], dtype=np.float64)
            mix = random.dirichlet(weights / weights.sum() * concentration + 1e-3)
            drawn[variant] = [str(name) for name in random.choice(names, size=frames_per_variant, p=mix)]
        sequence = 0
        for variant in order:
            for position, label in enumerate(drawn[variant]):
                frames.append(PlannedFrame(tester, variant, sequence, position, label))
                sequence += 1
    return frames


# --- The testers and the upload API ----------------------------------------------------------------


@dataclass(frozen=True)
class TesterLink:
    id: str
    token: str
    variant_ids: dict[str, str]  # key -> variant id
    order: list[str]  # keys in the tester's viewing order


def create_campaign(
    variant_keys: Sequence[str], *, testers: int, name: str, model_version_id: int | None = None
) -> tuple[str, list[TesterLink]]:
    """A running campaign and its consenting testers, made through the services as tests/load does;
    with `model_version_id` the campaign names that model instead of the active one."""
    from campaigns.models import Campaign, Variant
    from tests.load.__main__ import create_testers

    campaign_id, rows = create_testers(testers, interval=1.0, display_seconds=10, name=name)
    if model_version_id is not None:
        Campaign.objects.filter(pk=campaign_id).update(model_version_id=model_version_id)
    variants = list(Variant.objects.filter(campaign_id=campaign_id).order_by("position"))
    if len(variants) != len(variant_keys):
        raise RuntimeError(f"expected {len(variant_keys)} variants, the study has {len(variants)}")
    ids = {key: str(variant.pk) for key, variant in zip(variant_keys, variants, strict=True)}
    keys = {value: key for key, value in ids.items()}
    return campaign_id, [TesterLink(row.id, row.token, ids, [keys[str(v)] for v in row.variants]) for row in rows]


@dataclass
class UploadBooks:
    accepted: set[tuple[int, int]] = field(default_factory=set)  # (tester, sequence) answered 204
    statuses: Counter = field(default_factory=Counter)
    refused: list[tuple[int, int, str]] = field(default_factory=list)
    seconds: float = 0.0


async def _send_tester(client, tester: int, link: TesterLink, items, books: UploadBooks, give_up_at: float) -> None:
    """One tester's page (static/js/tester_watch.js): snapshots in order, each JPEG as the request
    body with its fields in X-Snapshot-* headers; 429, 5xx and network errors wait (Retry-After)
    and re-send, any other answer is final."""
    for frame, jpeg in items:
        headers = {
            "Content-Type": "image/jpeg",
            "X-Snapshot-Variant": link.variant_ids[frame.variant],
            "X-Snapshot-Sequence": str(frame.sequence),
            "X-Snapshot-Media-Time-Ms": str(frame.position * 1000),
        }
        while True:
            try:
                response = await client.post(f"/api/t/{link.token}/frames/", content=jpeg, headers=headers)
                status, retry_after = response.status_code, response.headers.get("Retry-After")
            except Exception as error:  # timeouts, resets: the page retries these too
                status, retry_after = type(error).__name__, None
            books.statuses[str(status)] += 1
            if status == 204:
                books.accepted.add((tester, frame.sequence))
                break
            retry = not isinstance(status, int) or status == 429 or status >= 500
            if retry and time.monotonic() < give_up_at:
                await asyncio.sleep(float(retry_after) if retry_after else 1.0)
                continue
            books.refused.append((tester, frame.sequence, str(status)))
            break


def upload_frames(
    base_url: str,
    links: Sequence[TesterLink],
    frames: Sequence[tuple[PlannedFrame, bytes]],
    *,
    connections: int = 16,
    timeout: float = 900,
) -> UploadBooks:
    """Every tester's frames through POST /api/t/<token>/frames/, testers side by side."""
    import httpx

    by_tester: dict[int, list[tuple[PlannedFrame, bytes]]] = {}
    for frame, jpeg in frames:
        by_tester.setdefault(frame.tester, []).append((frame, jpeg))
    books = UploadBooks()

    async def run() -> None:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        give_up_at = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:
            await asyncio.gather(
                *(
                    _send_tester(
                        client, tester, links[tester], sorted(items, key=lambda i: i[0].sequence), books, give_up_at
                    )
                    for tester, items in by_tester.items()
                )
            )

    started = time.monotonic()
    asyncio.run(run())
    books.seconds = time.monotonic() - started
    return books


def wait_for_outcomes(campaign_id: str, *, timeout: float) -> tuple[int, float]:
    """Until no frame of the campaign is pending: (frames still pending, seconds waited)."""
    from sessions.models import Frame

    started = time.monotonic()
    while True:
        pending = Frame.objects.filter(campaign_id=campaign_id, outcome=Frame.Outcome.PENDING).count()
        if not pending or time.monotonic() - started > timeout:
            return pending, time.monotonic() - started
        time.sleep(0.25)


def stored_outcomes(campaign_id: str, links: Sequence[TesterLink]) -> dict[tuple[int, int], str]:
    """(tester index, sequence) -> the outcome the worker recorded for that frame."""
    from sessions.models import Frame

    index = {link.id: number for number, link in enumerate(links)}
    rows = Frame.objects.filter(campaign_id=campaign_id).values_list("tester_id", "sequence", "outcome")
    return {(index[str(tester)], sequence): outcome for tester, sequence, outcome in rows}


# --- The dashboard, as a researcher sees it ---------------------------------------------------------


def researcher_for(campaign_id: str, *, username: str, password: str) -> None:
    """A researcher account in the campaign's organisation (made with the ORM, as the admin would)."""
    from django.contrib.auth import get_user_model

    from campaigns.models import Campaign, Membership

    organisation = Campaign.objects.get(pk=campaign_id).organisation
    user = get_user_model().objects.create_user(username, password=password)
    Membership.objects.create(user=user, organisation=organisation)


def read_dashboard(
    base_url: str, campaign_id: str, *, username: str, password: str, timeout: float = 120
) -> dict[str, Any]:
    """Log in through the login page and GET /api/campaigns/<id>/dashboard/. While the dashboard
    reports predictions not computed with the active calibration, it has queued their recompute:
    read again until there are none (or `timeout`)."""
    import httpx

    with httpx.Client(base_url=base_url, timeout=120, follow_redirects=False) as client:
        page = client.get("/accounts/login/")
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        if match is None:
            raise RuntimeError(f"no CSRF token on the login page ({page.status_code})")
        answer = client.post(
            "/accounts/login/",
            data={"username": username, "password": password, "csrfmiddlewaretoken": match.group(1)},
            headers={"Referer": f"{base_url}/accounts/login/"},
        )
        if answer.status_code != 302:
            raise RuntimeError(f"login failed: {answer.status_code}")
        deadline = time.monotonic() + timeout
        while True:
            response = client.get(f"/api/campaigns/{campaign_id}/dashboard/")
            response.raise_for_status()
            data = response.json()
            if not data["calibration"].get("stale_frames") or time.monotonic() > deadline:
                return data
            time.sleep(1.0)
