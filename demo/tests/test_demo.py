"""`manage.py demo`: what a newcomer sees after `make run`, a running campaign to take part in and
a closed one whose dashboard is already filled by the real analysis."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections import Counter
from io import StringIO
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from campaigns import services
from campaigns.media_validation import validate_variant_upload
from campaigns.models import Campaign, Invitation, Organisation, Variant
from campaigns.tests.conftest import image_bytes, make_campaign, stored_files
from campaigns.tokens import hash_token
from demo import media as demo_media
from demo.services import FINISHED_NAME, FINISHED_VARIANTS, LIVE_NAME, TESTERS, mark_as_demo
from inference.models import Prediction
from inference.services import model_version_ensure_default
from sessions import models as tester_models
from sessions import services as tester_services
from sessions.models import Frame, SurveyAnswer
from sessions.services import williams_rows

ROOT = Path(__file__).resolve().parents[2]
DEMO_PASSWORD = "mimik-demo-2026"


@pytest.fixture(autouse=True)
def no_messages_left_behind():
    """With a broker, the demo's snapshots are queued as well as analysed here: a later test's worker
    must not get them (their frame ids may name that test's frames)."""
    yield
    from config.celery import app

    app.control.purge()


def _rows() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (Campaign, Variant, Invitation, tester_models.Tester, Frame, Prediction, SurveyAnswer)
    }


def _interrupted_demo_campaign(personas) -> None:
    """What a demo run stopped half-way leaves: the campaign started, a tester in it, not closed."""
    organisation = Organisation.objects.create(name="Demo Verlag")
    campaign = make_campaign(personas, organisation=organisation, name=FINISHED_NAME)
    mark_as_demo(campaign)
    for label in ("A", "B"):
        upload = SimpleUploadedFile(f"{label}.png", image_bytes(), content_type="image/png")
        services.variant_add(campaign=campaign, label=label, media=validate_variant_upload(upload))
    services.question_add(campaign=campaign, kind="scale", text="Gefällt es Ihnen?")
    services.campaign_start(campaign=campaign)
    tester = tester_models.Tester.objects.create(campaign=campaign, token_hash="0" * 64)
    tester_services.tester_consent(tester=tester)


@pytest.mark.django_db
def test_demo_fills_a_closed_campaign_through_the_real_analysis_once(client, personas, media_root):
    model_version_ensure_default()  # the model and its shipped calibration, as migrations leave them
    _interrupted_demo_campaign(personas)
    call_command("demo", stdout=StringIO())
    made, files = _rows(), len(stored_files(media_root))
    out = StringIO()
    call_command("demo", stdout=out)
    assert _rows() == made and len(stored_files(media_root)) == files

    live = Campaign.objects.get(name=LIVE_NAME)
    finished = Campaign.objects.get(name=FINISHED_NAME)  # the interrupted one was made again
    assert (live.status, live.is_demo) == (Campaign.Status.RUNNING, True)
    assert (live.variants.count(), live.questions.count()) == (2, 2)
    # A second run prints fresh links to the same invitations of the running campaign; they work.
    tokens = re.findall(r"/t/([\w-]{43})/", out.getvalue())
    assert sorted(map(hash_token, tokens)) == sorted(live.invitations.values_list("token_hash", flat=True))
    assert client.get(f"/t/{tokens[0]}/").status_code == 200
    assert (finished.status, finished.is_demo) == (Campaign.Status.CLOSED, True)
    variants = list(finished.variants.order_by("position"))
    assert [variant.label for variant in variants] == [plan.label for plan in FINISHED_VARIANTS]
    assert Variant.Kind.VIDEO in {variant.kind for variant in variants}

    # Consent assigned the orders: every row of the balanced Latin square equally often.
    ids = [str(variant.pk) for variant in variants]
    orders = Counter(tuple(tester.variant_order) for tester in finished.testers.all())
    rows = williams_rows(len(ids))
    assert orders == {tuple(ids[index] for index in row): TESTERS // len(rows) for row in rows}
    # Every snapshot got the workers' outcome; predictions carry every class and the calibration.
    assert not finished.frames.filter(outcome=Frame.Outcome.PENDING).exists()
    prediction = Prediction.objects.filter(campaign=finished).first()
    assert set(prediction.probabilities) == set(prediction.model_version.class_names)
    assert prediction.calibrated_probabilities and prediction.face_box

    assert client.login(username="researcher", password=DEMO_PASSWORD)
    assert "Demonstration data" in client.get(f"/campaigns/{finished.pk}/").content.decode()
    assert "Demonstration data" in client.get(f"/campaigns/{finished.pk}/dashboard/").content.decode()
    data = client.get(f"/api/campaigns/{finished.pk}/dashboard/").json()
    assert data["progress"]["completed"] == TESTERS
    assert data["testers"]["included"] >= TESTERS - 2 and data["testers"]["excluded"] >= 1
    turned_away = {row["outcome"] for row in data["frames"]["outcomes"] if row["frames"]}
    assert {"prediction", "no_face", "too_dark"} <= turned_away and len(turned_away) >= 5
    assert data["frames"]["pending"] == 0

    happy = {}
    for row in data["variants"]:
        assert row["frames"] > 0
        happy[row["label"]] = next(c["ratio"] for c in row["classes"] if c["class_name"] == "happy")
    assert max(happy.values()) - min(happy.values()) > 0.1, happy
    pairs = {(row["label_a"], row["label_b"]) for row in data["comparisons"] if row["class_name"] == "happy"}
    assert len(pairs) == 3 and all(row["verdict"] for row in data["comparisons"])

    assert data["calibration"]["state"] == "calibrated"
    for row in data["estimated_shares"]["variants"]:
        assert sum(share["share"] for share in row["classes"]) == pytest.approx(1, abs=0.01)
    for question in data["survey"]["questions"]:
        assert all(row["n"] > 0 for row in question["variants"])
    assert {comment["variant"] for comment in data["survey"]["comments"]} == set(happy)
    (spot,) = data["timeline"]["variants"]
    assert len(spot["bins"]) >= 4


def test_demo_posters_have_german_letters():
    missing = demo_media.poster_png("\u0378", "", (46, 139, 87))  # an unassigned code point: the box
    for text in ("ü", "Ü", "ä", "ö", "ß"):
        assert demo_media.poster_png(text, "", (46, 139, 87)) != missing, text


def test_demo_prints_links_to_the_port_it_serves_on(tmp_path):
    """SITE_URL follows PORT; settings are read at start, hence a process of its own (on SQLite)."""
    env = {
        key: value for key, value in os.environ.items() if key not in ("SITE_URL", "HOST", "DJANGO_ALLOW_ASYNC_UNSAFE")
    }
    env.update(
        DEBUG="1",
        PORT="8100",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        MEDIA_ROOT=str(tmp_path / "media"),
        PYTHONUNBUFFERED="1",
    )
    for command in (["migrate", "--noinput", "-v0"], ["demo"]):
        done = subprocess.run(
            [sys.executable, "manage.py", *command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stderr[-3000:]
    links = re.findall(r"https?://\S+", done.stdout)
    assert len(links) >= 5, done.stdout  # login, results, three tester links
    assert all(link.startswith("http://localhost:8100/") for link in links), links
