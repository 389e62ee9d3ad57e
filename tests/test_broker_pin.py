"""The two places where the frames' path overrides library internals were written for one release
each of the library they override (config.celery's in-flight list: kombu; inference.tasks'
FrameBatches.flush: celery-batches). Another release must be read against the override, and the
constant moved, before these pass again; requirements.txt pins the same releases."""

from __future__ import annotations

import re
from importlib.metadata import version

import pytest

from config.celery import KOMBU_VERSION_FOR_INFLIGHT_LIST
from conftest import ROOT
from inference.tasks import CELERY_BATCHES_VERSION_FOR_FLUSH

OVERRIDDEN_RELEASES = [("kombu", KOMBU_VERSION_FOR_INFLIGHT_LIST), ("celery-batches", CELERY_BATCHES_VERSION_FOR_FLUSH)]


@pytest.mark.parametrize(("package", "written_for"), OVERRIDDEN_RELEASES)
def test_the_installed_release_is_the_one_the_override_was_written_for(package, written_for):
    assert version(package) == written_for


@pytest.mark.parametrize(("package", "written_for"), OVERRIDDEN_RELEASES)
def test_requirements_pin_the_release_the_override_was_written_for(package, written_for):
    requirements = (ROOT / "requirements.txt").read_text()
    pins = re.findall(rf"^{re.escape(package)}==(\S+)", requirements, flags=re.MULTILINE | re.IGNORECASE)
    assert pins == [written_for]
