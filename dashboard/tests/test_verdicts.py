"""The verdict that leads the dashboard and the testers planner beside it, on generated campaigns
whose truth is known (generated.py): who leads and by how much, when it is too early, the closed
campaign's final analysis, and how many more testers and invitations it takes."""

from __future__ import annotations

import numpy as np
import pytest
from django.urls import reverse
from django.utils import timezone, translation

from campaigns.models import Campaign, Invitation, Variant
from dashboard import calibrated as calibrated_module
from dashboard import decision, stats
from dashboard.selectors import dashboard_data
from dashboard.wording import paired_verdict
from emotion_math import calibration as calibration_math
from inference.tests.generated import CLASS_NAMES, generated_campaign, store_calibration, unloadable_model

from .conftest import make_user

# Shares of angry, disgust, fear, happy, sad, surprise, neutral: B is far happier, A far sadder.
CLEAR = {"A": [0.05, 0.02, 0.03, 0.1, 0.4, 0.1, 0.3], "B": [0.05, 0.02, 0.03, 0.6, 0.1, 0.05, 0.15]}
EVEN = {"A": [0.05, 0.02, 0.08, 0.4, 0.15, 0.1, 0.2], "B": [0.05, 0.02, 0.08, 0.4, 0.15, 0.1, 0.2]}
HAPPY, SAD = CLASS_NAMES.index("happy"), CLASS_NAMES.index("sad")


@pytest.fixture
def calibrated(db, recompute_in_process, django_capture_on_commit_callbacks):
    """make(shares, testers=..., seed=..., status=...): a generated campaign of one model whose
    calibration is active and whose every prediction carries its calibrated values."""

    def make(shares, *, testers=30, seed=3, status=Campaign.Status.RUNNING):
        model = unloadable_model()
        generated = generated_campaign(model, variant_shares=shares, testers=testers, frames_per_tester=40, seed=seed)
        with django_capture_on_commit_callbacks(execute=True):
            calibration = store_calibration(model, seed=100)
        Campaign.objects.filter(pk=generated.campaign.pk).update(status=status)
        generated.campaign.refresh_from_db()
        return generated, calibration

    return make


def emotion(data, class_name):
    return next(row for row in data["decision"]["emotions"] if row["class_name"] == class_name)


def plan(data, class_name):
    return next(row for row in data["decision"]["plan"]["emotions"] if row["class_name"] == class_name)


def shares_per_tester(generated, calibration, class_index) -> np.ndarray:
    """testers x variants: each tester's estimated share of the class, from their mean calibrated
    probabilities worked out here from the generated frames."""
    columns = []
    for variant in generated.variants:
        calibrated = calibration_math.apply_calibration(generated.raw[variant.label], calibration.parameters)
        testers = generated.tester_of_frame[variant.label]
        columns.append([calibrated[testers == t].mean(axis=0) for t in np.unique(testers)])
    means = np.stack(columns, axis=1)  # testers x variants x classes
    return calibrated_module.per_tester_shares(calibration, means)[:, :, class_index]


def test_a_clear_difference_names_the_variant_that_leads_by_how_much_and_how_sure(calibrated):
    generated, calibration = calibrated(CLEAR)

    data = dashboard_data(campaign=generated.campaign)

    happy = emotion(data, "happy")
    (pair,) = happy["pairs"]
    shares = shares_per_tester(generated, calibration, HAPPY)
    # decision.py compares a - b in variant order: B ahead means a negative estimate.
    assert (pair["label_a"], pair["label_b"], pair["n"]) == ("A", "B", 30)
    assert pair["estimate"] == pytest.approx((shares[:, 0] - shares[:, 1]).mean(), abs=1e-6)
    assert pair["estimate"] < 0 and pair["leader"] == "b"
    # The same points as the estimated shares below it (b - a there), near the true 50 points.
    estimated = next(row for row in data["estimated_shares"]["comparisons"] if row["class_name"] == "happy")
    assert pair["estimate"] == pytest.approx(-estimated["difference"], abs=0.005)
    assert pair["estimate"] == pytest.approx(-0.5, abs=0.1)
    assert (happy["clear"], happy["leader"], happy["leader_label"]) == (True, str(generated.variants[1].pk), "B")
    points = f"{abs(pair['estimate']) * 100:.0f}"
    low, high = (
        f"{value:.0f}" if value >= 10 else f"{value:.1f}" for value in (pair["points_low"], pair["points_high"])
    )
    assert happy["sentence"] == (
        f"B leads on happy by {points} points over A (95 % always-valid interval {low}–{high} points, 30 testers)."
    )
    assert 0 < pair["points_low"] < pair["points"] < pair["points_high"]
    sad = emotion(data, "sad")
    assert sad["leader_label"] == "A" and sad["sentence"].startswith("A leads on sad by "), sad["sentence"]
    assert data["decision"]["method"] == "always_valid" and data["decision"]["basis"] == "calibrated"
    assert data["decision"]["default_emotions"] == ["happy", "sad"]
    assert "may be read after every tester" in data["decision"]["method_note"]


def test_a_campaign_without_a_true_difference_names_no_winner(calibrated):
    generated, _calibration = calibrated(EVEN, seed=4)

    rows = dashboard_data(campaign=generated.campaign)["decision"]["emotions"]

    assert [row["class_name"] for row in rows] == list(CLASS_NAMES)
    for row in rows:
        assert (row["clear"], row["leader"], row["pairs"][0]["leader"]) == (False, None, None), row["sentence"]
        assert row["sentence"].startswith(("Too early to say on", "Not decided yet on")), row["sentence"]
        assert " leads " not in row["sentence"]


def test_two_testers_are_too_early_to_say_never_no_difference(calibrated):
    generated, _calibration = calibrated(CLEAR, testers=2, seed=5)

    data = dashboard_data(campaign=generated.campaign)

    assert emotion(data, "happy")["sentence"] == (
        "Too early to say on happy: 2 testers are counted; at least 10 are needed to compare A and B."
    )
    for row in data["decision"]["emotions"]:
        assert row["pairs"][0]["verdict"] == "too_early" and row["pairs"][0]["p_value"] is None
    # The paired comparison below it does not call two level testers "no difference" either.
    level = stats.paired_comparison(np.array([1.0, 1.0]), np.array([1.0, 1.0]))
    sentence = paired_verdict(level, label_a="A", label_b="B", class_name="happy")
    assert sentence == "No clear difference on happy: A and B are level among these 2 testers."
    happy_plan = plan(data, "happy")
    assert (happy_plan["sd_source"], happy_plan["rate_source"]) == ("assumed", "assumed")
    assert (happy_plan["fixed_testers"], happy_plan["always_valid_testers"]) == (73, 155)


def test_a_closed_campaign_shows_the_final_fixed_sample_analysis(calibrated):
    generated, calibration = calibrated(CLEAR, status=Campaign.Status.CLOSED)

    data = dashboard_data(campaign=generated.campaign)

    assert (data["decision"]["method"], data["decision"]["final"]) == ("fixed_sample", True)
    assert "final fixed-sample analysis" in data["decision"]["method_note"]
    happy = emotion(data, "happy")
    (pair,) = happy["pairs"]
    shares = shares_per_tester(generated, calibration, HAPPY)
    expected = decision.final_verdict(shares[:, 0] - shares[:, 1])
    assert (pair["method"], pair["low"], pair["high"]) == (
        "fixed_sample",
        *map(pytest.approx, (expected.low, expected.high)),
    )
    assert happy["sentence"].startswith("Final fixed-sample analysis: B leads on happy by ")
    assert "(95 % interval " in happy["sentence"] and "always-valid" not in happy["sentence"]
    # A closed campaign invites no one: the plan speaks of a campaign like it, not of more testers.
    assert plan(data, "happy")["sentences"][1].startswith("That takes about ")


def test_with_three_variants_the_one_ahead_of_every_other_leads_overall(calibrated):
    shares = {"A": CLEAR["A"], "B": CLEAR["A"], "C": CLEAR["B"]}
    generated, _calibration = calibrated(shares, seed=6)

    data = dashboard_data(campaign=generated.campaign)

    happy = emotion(data, "happy")
    assert [(row["label_a"], row["label_b"]) for row in happy["pairs"]] == [("A", "B"), ("A", "C"), ("B", "C")]
    # Each of the three pairs at alpha / 3, so no pair of them names a false winner more often than 5 %.
    assert {round(row["confidence"], 4) for row in happy["pairs"]} == {round(1 - 0.05 / 3, 4)}
    assert happy["leader_label"] == "C" and happy["pairs"][0]["leader"] is None
    assert happy["sentence"].startswith(
        "C leads on happy over every other variant (98.3 % always-valid intervals, 30 testers): A by "
    )
    assert ", B by " in happy["sentence"]
    assert plan(data, "happy")["assumptions"][2] == (
        "80 % power; at most 1.7 % risk per pair of variants of naming a winner that is not one."
    )


def test_the_verdict_in_german_writes_german_words_and_numbers(calibrated):
    generated, _calibration = calibrated(CLEAR)

    with translation.override("de"):
        data = dashboard_data(campaign=generated.campaign)

    (pair,) = emotion(data, "happy")["pairs"]
    points = f"{pair['points']:.0f}"
    low, high = (
        f"{value:.0f}" if value >= 10 else f"{value:.1f}".replace(".", ",")
        for value in (pair["points_low"], pair["points_high"])
    )
    assert emotion(data, "happy")["sentence"] == (
        f"B liegt bei Freude um {points} Prozentpunkte vor A "
        f"(jederzeit gültiges 95-%-Intervall {low}–{high} Prozentpunkte, 30 Testpersonen)."
    )
    sd = f"{plan(data, 'happy')['sd']:.2f}".replace(".", ",")
    assert plan(data, "happy")["assumptions"][0] == (
        f"Streuung der Differenzen je Testperson bei Freude: SD {sd}, beobachtet an 30 Testpersonen."
    )


def test_the_planner_uses_the_campaigns_own_spread_and_counted_rate_and_says_so(calibrated, client):
    generated, calibration = calibrated(CLEAR)
    expires = timezone.now() + timezone.timedelta(days=14)
    Invitation.objects.bulk_create(
        Invitation(campaign=generated.campaign, email=f"t{n}@example.org", token_hash=f"h{n}", expires_at=expires)
        for n in range(45)
    )  # with the 30 testers who came by the open link: 75 invited, 30 counted

    happy_plan = plan(dashboard_data(campaign=generated.campaign), "happy")

    shares = shares_per_tester(generated, calibration, HAPPY)
    differences = shares[:, 0] - shares[:, 1]
    expected = decision.plan_testers(differences=differences, counted=30, invited=75)
    for key in ("sd", "counted_rate", "fixed_testers", "always_valid_testers", "more_always_valid_invitations"):
        assert happy_plan[key] == pytest.approx(getattr(expected, key)), key
    assert (happy_plan["sd_source"], happy_plan["rate_source"], happy_plan["counted_rate"]) == (
        "observed",
        "observed",
        0.4,
    )
    assert happy_plan["sentences"] == [
        f"To detect a difference of 5 points in happy with 80 % power, the live verdict needs up to "
        f"{expected.always_valid_testers} counted testers; a single analysis at the end needs "
        f"{expected.fixed_testers}.",
        f"That is {expected.more_always_valid_testers} more counted testers than now, about "
        f"{expected.more_always_valid_invitations} more invitations; the single analysis has enough already."
        if not expected.more_fixed_testers
        else f"That is {expected.more_always_valid_testers} more counted testers than now, about "
        f"{expected.more_always_valid_invitations} more invitations (for the single analysis: "
        f"{expected.more_fixed_testers} more, about {expected.more_fixed_invitations} more invitations).",
    ]
    assert happy_plan["assumptions"][:2] == [
        f"Spread of the per-tester differences in happy: SD {differences.std(ddof=1):.2f}, observed on 30 testers.",
        "Counted testers per invitation: 40 %, observed (30 counted of 75 invited).",
    ]

    # The page asks for another difference through the API; nonsense is refused in one sentence.
    owner = make_user("planner", Campaign.objects.get(pk=generated.campaign.pk).organisation)
    client.force_login(owner)
    url = reverse("dashboard-api:data", kwargs={"campaign_id": generated.campaign.pk})
    wider = plan(client.get(url, {"detect": "10"}).json(), "happy")
    assert wider["difference"] == pytest.approx(0.10)
    assert wider["always_valid_testers"] < happy_plan["always_valid_testers"]
    refused = client.get(url, {"detect": "0"})
    assert refused.status_code == 400
    assert refused.json()["message"] == "The difference to detect must be a number of points from 0.5 to 50."


def test_the_campaign_page_plans_before_any_data_with_the_assumptions_stated(client, organisation, owner):
    campaign = Campaign.objects.create(organisation=organisation, name="Winter", created_by=owner)
    for position, label in enumerate("AB"):
        Variant.objects.create(
            campaign=campaign, label=label, kind="image", file=f"v/{label}.png", content_type="image/png",
            position=position,
        )  # fmt: skip
    client.force_login(owner)

    page = client.get(reverse("campaigns:detail", kwargs={"campaign_id": campaign.pk})).content.decode()

    # 73 and 155 counted testers at SD 0.15 (bench.peeking's planner figures); / 0.6 -> 122 and 259.
    assert (
        "To detect a difference of 5 points in happy with 80 % power, the live verdict needs up to 155 counted "
        "testers; a single analysis at the end needs 73." in page
    )
    assert "That takes about 259 invitations (122 for the single analysis) at the counted rate below." in page
    assert "Spread of the per-tester differences in happy: SD 0.15, assumed (typical of campaigns;" in page
    assert "Counted testers per invitation: 60 %, assumed (" in page


@pytest.mark.django_db
def test_the_campaign_page_counts_as_the_dashboard_does_once_testers_are_counted(client, fixed, owner):
    Campaign.objects.filter(pk=fixed.campaign.pk).update(status=Campaign.Status.RUNNING)
    client.force_login(owner)

    page = client.get(reverse("campaigns:detail", kwargs={"campaign_id": fixed.campaign.pk})).content.decode()

    # 6 testers counted (t7 sent no usable frame, t8 too few on B), 11 invited (dashboard_data's progress).
    assert dashboard_data(campaign=fixed.campaign)["testers"]["included"] == 6
    assert "Counted testers per invitation: 54.5 %, observed (6 counted of 11 invited)." in page
    assert "That takes about 285 invitations (134 for the single analysis)" in page
