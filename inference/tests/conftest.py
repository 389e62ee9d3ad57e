"""Rows the inference tests need: a campaign with a variant, a tester and frames."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest

from campaigns.models import Campaign, Organisation, Variant
from sessions.models import Frame, Tester


def make_campaign(**values) -> tuple[Campaign, Variant, Tester]:
    organisation = Organisation.objects.create(name="Acme research")
    campaign = Campaign.objects.create(organisation=organisation, name="Spring ads", status="running", **values)
    variant = Variant.objects.create(campaign=campaign, label="A", kind="image", file="variants/a.jpg")
    tester = Tester.objects.create(campaign=campaign, token_hash=uuid.uuid4().hex, camera="granted")
    return campaign, variant, tester


def make_frame(tester: Tester, variant: Variant, sequence: int) -> Frame:
    return Frame.objects.create(
        campaign_id=tester.campaign_id,
        tester=tester,
        variant=variant,
        sequence=sequence,
        media_time_ms=sequence * 500,
        byte_size=1,
    )


def wait_until(condition: Callable[[], bool], *, timeout: float = 60, message: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting: {message}")


@pytest.fixture(autouse=True)
def _fresh_model_lookups():
    """Workers remember the model and calibration lookups for a while; tests roll the registry
    back between them, so each starts with nothing remembered."""
    from inference.calibrations import forget_cached_calibrations
    from inference.selectors import forget_cached_models

    forget_cached_models()
    forget_cached_calibrations()
    yield
    forget_cached_models()
    forget_cached_calibrations()


@pytest.fixture
def media_root(tmp_path, settings):
    root = tmp_path / "media"
    root.mkdir()
    settings.MEDIA_ROOT = root
    return root
