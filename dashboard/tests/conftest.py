"""A small fixed campaign whose every dashboard number can be worked out by hand.

Two image variants A and B, threshold 0.5, at least 3 analysed frames per variant, default model.
Happy frames (top class happy, p >= 0.5) out of analysed frames, per tester:

    tester  order   A      B      B - A
    t1      A, B    0/4    1/4    0.25   (B also has one happy frame at p = 0.3: below threshold)
    t2      B, A    1/4    3/4    0.50
    t3      A, B    0/4    3/4    0.75
    t4      B, A    0/5    1/5    0.20
    t5      A, B    1/5    4/5    0.60
    t6      B, A    0/4    4/4    1.00

Every other analysed frame is "sad" at p = 0.7, except t1's B frames: happy 0.9, happy 0.3,
neutral 0.9, sad 0.8. t1 also sent one blurred frame on A (no prediction).
Excluded, and counted as such: t7 sent 4 frames per variant, all without a face (no usable frame);
t8 has 4 analysed frames on A but only 1 on B. t9 withdrew: their tester row is deleted, only the
invitation's withdrawn_at remains. t10 took the survey only (camera denied).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from campaigns.models import Campaign, Invitation, Membership, Organisation, SurveyQuestion, Variant
from dashboard.counting import active_calibration
from dashboard.matrix import tester_matrix
from inference import calibrations
from inference.default_model import DEFAULT_MODEL
from inference.models import Calibration, ModelVersion, Prediction
from inference.selectors import get_model_for_campaign
from inference.tests.generated import store_calibration, unloadable_model
from sessions.models import BaselineSnapshot, Frame, SurveyAnswer, Tester

HAPPY_FRAMES = {  # tester: ((happy on A, frames on A), (happy on B, frames on B))
    "t1": ((0, 4), (1, 4)),
    "t2": ((1, 4), (3, 4)),
    "t3": ((0, 4), (3, 4)),
    "t4": ((0, 5), (1, 5)),
    "t5": ((1, 5), (4, 5)),
    "t6": ((0, 4), (4, 4)),
}
RATINGS = {"t1": (2, 5), "t2": (3, 6), "t3": (1, 6), "t4": (2, 4), "t5": (4, 7), "t6": (1, 7)}


@dataclass
class Fixed:
    campaign: Campaign
    a: Variant
    b: Variant
    model: ModelVersion
    question: SurveyQuestion
    testers: dict[str, Tester]


def add_frame(tester: Tester, variant: Variant, sequence: int, top_class: str | None, probability: float = 0.0):
    """A frame, and when top_class is given its prediction by the active model."""
    frame = Frame.objects.create(
        campaign=tester.campaign,
        tester=tester,
        variant=variant,
        sequence=sequence,
        media_time_ms=sequence * 1000,
        outcome=Frame.Outcome.PREDICTION if top_class else Frame.Outcome.NO_FACE,
    )
    if top_class:
        model = active_model()
        Prediction.objects.create(
            frame=frame,
            model_version=model,
            campaign=tester.campaign,
            variant=variant,
            tester=tester,
            media_time_ms=frame.media_time_ms,
            probabilities={top_class: probability},
            top_class=top_class,
            top_probability=probability,
        )
    return frame


def make_user(username: str, organisation: Organisation):
    user = get_user_model().objects.create_user(username=username, password="pw-for-tests-only")
    Membership.objects.create(user=user, organisation=organisation)
    return user


@pytest.fixture
def recompute_in_process(monkeypatch, django_capture_on_commit_callbacks):
    """The recompute task runs at once, in this process, when it is queued."""
    monkeypatch.setattr(
        calibrations.recalibrate_predictions,
        "apply_async",
        lambda args, **_options: calibrations.predictions_recalibrate(model_version_id=args[0]),
    )
    calibrations.forget_cached_calibrations()


@pytest.fixture
def organisation(db) -> Organisation:
    return Organisation.objects.create(name="Acme Research")


@pytest.fixture
def owner(organisation):
    return make_user("owner", organisation)


@pytest.fixture
def outsider(db):
    return make_user("outsider", Organisation.objects.create(name="Other Lab"))


def active_model() -> ModelVersion:
    # A transactional test flushes the table the data migration filled, so recreate it if needed.
    model = ModelVersion.objects.filter(is_active=True).first()
    return model or ModelVersion.objects.create(**DEFAULT_MODEL, is_active=True)


@pytest.fixture
def fixed(organisation, owner) -> Fixed:
    now = timezone.now()
    model = active_model()
    campaign = Campaign.objects.create(
        organisation=organisation,
        name="Spring ads",
        confidence_threshold=0.5,
        min_frames_per_tester=3,
        created_by=owner,
    )
    a = Variant.objects.create(campaign=campaign, label="A", kind="image", file="v/a.png", content_type="image/png")
    b = Variant.objects.create(
        campaign=campaign, label="B", kind="image", file="v/b.png", content_type="image/png", position=1
    )
    question = SurveyQuestion.objects.create(campaign=campaign, text="How much do you like it?")
    expires = now + timezone.timedelta(days=14)
    invitation = Invitation.objects.create(
        campaign=campaign, email="t1@example.org", token_hash="h1", expires_at=expires, opened_at=now
    )
    Invitation.objects.create(campaign=campaign, email="never@example.org", token_hash="h2", expires_at=expires)
    withdrawn = Invitation.objects.create(
        campaign=campaign, email="t9@example.org", token_hash="h9", expires_at=expires, opened_at=now
    )

    def tester(name: str, order: list[Variant], **fields) -> Tester:
        return Tester.objects.create(
            campaign=campaign,
            token_hash=f"tok-{name}",
            consented_at=now,
            camera=fields.pop("camera", Tester.Camera.GRANTED),
            variant_order=[str(v.pk) for v in order],
            **fields,
        )

    testers: dict[str, Tester] = {}
    for i, (name, sides) in enumerate(HAPPY_FRAMES.items()):
        order = [a, b] if i % 2 == 0 else [b, a]
        testers[name] = tester(name, order, completed_at=now, invitation=invitation if name == "t1" else None)
        for variant, (happy, total) in zip((a, b), sides, strict=True):
            if name == "t1" and variant is b:
                continue
            for sequence in range(total):
                add_frame(
                    testers[name],
                    variant,
                    sequence,
                    "happy" if sequence < happy else "sad",
                    0.9 if sequence < happy else 0.7,
                )
        SurveyAnswer.objects.create(tester=testers[name], variant=a, question=question, rating=RATINGS[name][0])
        SurveyAnswer.objects.create(tester=testers[name], variant=b, question=question, rating=RATINGS[name][1])
    for sequence, (top_class, probability) in enumerate(
        [("happy", 0.9), ("happy", 0.3), ("neutral", 0.9), ("sad", 0.8)]
    ):
        add_frame(testers["t1"], b, sequence, top_class, probability)
    blurred = add_frame(testers["t1"], a, 99, None)
    Frame.objects.filter(pk=blurred.pk).update(outcome=Frame.Outcome.BLURRED)
    SurveyAnswer.objects.filter(tester=testers["t1"], variant=a).update(comment="Too dark for me")

    testers["t7"] = tester("t7", [a, b])
    for variant in (a, b):
        for sequence in range(4):
            add_frame(testers["t7"], variant, sequence, None)
    SurveyAnswer.objects.create(tester=testers["t7"], variant=a, question=question, rating=7, comment="t7 was here")
    testers["t8"] = tester("t8", [a, b])
    for sequence in range(4):
        add_frame(testers["t8"], a, sequence, "happy", 0.9)
    add_frame(testers["t8"], b, 0, "happy", 0.9)

    # t9 took part fully, then withdrew: the withdrawal service deletes the tester (cascade).
    t9 = tester("t9", [a, b], invitation=withdrawn, completed_at=now)
    for variant in (a, b):
        for sequence in range(5):
            add_frame(t9, variant, sequence, "happy", 0.99)
        SurveyAnswer.objects.create(tester=t9, variant=variant, question=question, rating=7, comment="t9 was here")
    t9.delete()
    Invitation.objects.filter(pk=withdrawn.pk).update(withdrawn_at=now)

    testers["t10"] = tester("t10", [a, b], camera=Tester.Camera.DENIED, completed_at=now)
    SurveyAnswer.objects.create(tester=testers["t10"], variant=a, question=question, rating=5, comment="No camera")
    SurveyAnswer.objects.create(tester=testers["t10"], variant=b, question=question, rating=5)
    return Fixed(campaign, a, b, model, question, testers)


# Builders of campaigns whose every tester's faces, ratings and baseline are chosen.


@dataclass
class Built:
    campaign: Campaign
    variants: list[Variant]
    question: SurveyQuestion
    testers: dict[str, Tester]

    def short_id(self, name: str) -> str:
        return str(self.testers[name].pk)[:8]


def build_campaign(
    organisation: Organisation,
    faces: dict[str, tuple[tuple[int, int], ...]],
    ratings: dict[str, tuple[int | None, ...]],
    *,
    labels: tuple[str, ...] = ("A", "B"),
    status: str = Campaign.Status.RUNNING,
    is_demo: bool = False,
    threshold: float = 0.5,
    min_frames: int = 1,
    model: ModelVersion | None = None,
    happy_probability: float = 0.9,
) -> Built:
    """`faces`: per tester, (happy frames, analysed frames) on each variant; the happy frames at
    `happy_probability`, the others sad at 0.9. `ratings`: per tester, the rating of each variant on
    a 1-7 scale (None: not answered). `model`: the campaign's own model (default: the active one)."""
    campaign = Campaign.objects.create(
        organisation=organisation,
        name=f"Built {uuid.uuid4().hex[:6]}",
        status=status,
        is_demo=is_demo,
        confidence_threshold=threshold,
        min_frames_per_tester=min_frames,
        model_version=model,
    )
    predicting = model or active_model()
    variants = [
        Variant.objects.create(
            campaign=campaign, label=label, kind="image", file=f"v/{label}.png", content_type="image/png", position=i
        )
        for i, label in enumerate(labels)
    ]
    question = SurveyQuestion.objects.create(campaign=campaign, text="How much do you like it?")
    now = timezone.now()
    names = sorted(set(faces) | set(ratings))
    rows = Tester.objects.bulk_create(
        Tester(
            campaign=campaign,
            token_hash=uuid.uuid4().hex,
            consented_at=now,
            completed_at=now,
            camera=Tester.Camera.GRANTED,
            variant_order=[str(v.pk) for v in variants],
        )
        for _name in names
    )
    testers = dict(zip(names, rows, strict=True))
    frames, happy = [], []
    for name, sides in faces.items():
        for variant, (happy_frames, total) in zip(variants, sides, strict=True):
            for sequence in range(total):
                frames.append(
                    Frame(
                        campaign=campaign,
                        tester=testers[name],
                        variant=variant,
                        sequence=sequence,
                        media_time_ms=sequence * 1000,
                        outcome=Frame.Outcome.PREDICTION,
                    )
                )
                happy.append(sequence < happy_frames)
    Frame.objects.bulk_create(frames)
    Prediction.objects.bulk_create(
        Prediction(
            frame=frame,
            model_version=predicting,
            campaign=campaign,
            variant_id=frame.variant_id,
            tester_id=frame.tester_id,
            media_time_ms=frame.media_time_ms,
            probabilities={"happy": happy_probability} if is_happy else {"sad": 0.9},
            top_class="happy" if is_happy else "sad",
            top_probability=happy_probability if is_happy else 0.9,
        )
        for frame, is_happy in zip(frames, happy, strict=True)
    )
    SurveyAnswer.objects.bulk_create(
        SurveyAnswer(tester=testers[name], variant=variant, question=question, rating=rating)
        for name, given in ratings.items()
        for variant, rating in zip(variants, given, strict=True)
        if rating is not None
    )
    return Built(campaign, variants, question, testers)


def dashboard_inputs(campaign: Campaign, threshold: float | None = None) -> dict:
    """What dashboard_data hands the analyses: the model, calibration, threshold, matrix and ratios."""
    threshold = campaign.confidence_threshold if threshold is None else threshold
    model = get_model_for_campaign(campaign)
    calibration = active_calibration(model)
    variants = list(Variant.objects.filter(campaign=campaign).order_by("position", "created_at"))
    matrix = tester_matrix(
        campaign=campaign, model=model, threshold=threshold, variants=variants, calibration=calibration
    )
    return {"model": model, "calibration": calibration, "threshold": threshold, "matrix": matrix}


def finished(organisation: Organisation, *variants: tuple[int, int], **options) -> Campaign:
    """A closed campaign with one tester: per variant (happy frames of 10, rating 1-7)."""
    options.setdefault("status", Campaign.Status.CLOSED)
    faces = {"t": tuple((happy, 10) for happy, _rating in variants)}
    ratings = {"t": tuple(rating for _happy, rating in variants)}
    labels = tuple(f"V{i}" for i in range(len(variants)))
    return build_campaign(organisation, faces, ratings, labels=labels, **options).campaign


def probabilities(class_names: list[str], happy: float, rest: str = "neutral") -> dict[str, float]:
    """Every class of the model: `happy`, the rest on one other class, 0 elsewhere."""
    values = dict.fromkeys(class_names, 0.0)
    values["happy"], values[rest] = happy, round(1 - happy, 6)
    return values


def add_snapshot(tester: Tester, model: ModelVersion, kind: str, sequence: int, calibrated: dict, **fields):
    """An analysed baseline snapshot, current on the model's active calibration (`calibrated` both
    its raw and its calibrated values unless `fields` say otherwise)."""
    version = Calibration.objects.get(model_version=model, is_active=True).version
    top = max(calibrated, key=calibrated.get)
    values = {
        "probabilities": calibrated,
        "top_class": top,
        "calibration_version": version,
        "calibrated_probabilities": calibrated,
        "calibrated_top_class": top,
        **fields,
    }
    return BaselineSnapshot.objects.create(
        campaign_id=tester.campaign_id,
        tester=tester,
        kind=kind,
        sequence=sequence,
        outcome=BaselineSnapshot.Outcome.PREDICTION,
        **{"model_version": model, **values},
    )


# Eight testers; tester i smiles at i of 10 frames on A and at 10 - i of 10 on B.
SMILES = {f"t{i}": ((i, 10), (10 - i, 10)) for i in range(1, 9)}
# Ratings that rise with the smiles on each variant (ties on the 1-7 scale: rho just under 1).
AGREEING = {f"t{i}": (min(7, 1 + i * 3 // 4), min(7, 1 + (10 - i) * 3 // 4)) for i in range(1, 9)}


def make_current(campaign: Campaign, calibration: Calibration) -> None:
    """Every prediction of the campaign current on the calibration, with every class: happy frames
    at happy 0.9 (neutral the rest), the others at sad 0.9 and happy 0.1. Counted as before."""
    names = list(calibration.model_version.class_names)
    for top, calibrated in (("happy", probabilities(names, 0.9)), ("sad", probabilities(names, 0.1, rest="sad"))):
        Prediction.objects.filter(campaign=campaign, top_class=top).update(
            calibration_version=calibration.version,
            calibrated_probabilities=calibrated,
            calibrated_top_class=top,
            calibrated_top_probability=0.9,
        )


def panel_campaign(organisation: Organisation) -> Built:
    """A running campaign with something in every panel, on a calibrated model of its own (so no
    recompute is ever queued for it):

    - SMILES and AGREEING: A's ratings average 4.0, B's 4.75 (ranks follow the faces);
    - every prediction current on the calibration, the happy frames at happy 0.9, the others at
      sad 0.9 and happy 0.1: a tester smiling at k of 10 frames has a mean happy probability of
      0.1 + 0.08 k;
    - t1 to t4 rested at happy 0.2; t1 posed two smiles, one read as happy;
    - three finished campaigns of the organisation on the same model, one tester each: variants
      with happy shares 10 % to 60 % and ratings 1 to 6.
    """
    model = unloadable_model("panels")
    calibration = store_calibration(model, activate=False)
    Calibration.objects.filter(pk=calibration.pk).update(is_active=True)  # its predictions are written current
    for happy in (1, 3, 5):
        finished(organisation, (happy, happy), (happy + 1, happy + 1), model=model)
    built = build_campaign(organisation, SMILES, AGREEING, model=model)
    make_current(built.campaign, calibration)
    names = list(model.class_names)
    for name in ("t1", "t2", "t3", "t4"):
        add_snapshot(built.testers[name], model, "resting", 0, probabilities(names, 0.2))
    add_snapshot(built.testers["t1"], model, "posed_smile", 0, probabilities(names, 0.8))
    add_snapshot(built.testers["t1"], model, "posed_smile", 1, probabilities(names, 0.1))
    return built
