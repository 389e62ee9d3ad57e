"""Audiences on the dashboard, its API and its exports: a filter to the testers who gave one screener
answer restricts every figure to them, a split shows the main per-variant figures per answer, and a
group of fewer than MIN_AUDIENCE_TESTERS testers is refused everywhere, never shown.

The generated campaign: two image variants, a calibrated model, 10 analysed frames per tester and
variant, and the screener question "Are you already a customer?":

    answer              testers  happy on A  happy on B  rating A, B
    Yes                 5        1-3 of 10   7-9 of 10   2, 6
    No                  4        5-7 of 10   0-2 of 10   6, 2
    Prefer not to say   6        4-6 of 10   4-6 of 10   4, 4
"""

from __future__ import annotations

import csv
import html
import io

import pytest
from django.urls import reverse

from campaigns.models import ScreenerQuestion
from dashboard.audiences import TOO_FEW_TESTERS
from inference.models import Calibration
from inference.tests.generated import store_calibration, unloadable_model
from sessions.models import ScreenerAnswer, SurveyAnswer

from .conftest import Built, add_snapshot, build_campaign, make_current, probabilities

YES = {
    f"y{i}": ((happy_a, 10), (happy_b, 10))
    for i, (happy_a, happy_b) in enumerate([(1, 8), (2, 9), (3, 7), (2, 8), (1, 9)])
}
NO = {f"n{i}": ((happy_a, 10), (happy_b, 10)) for i, (happy_a, happy_b) in enumerate([(6, 1), (7, 2), (5, 1), (6, 0)])}
UNSAID = {
    f"u{i}": ((happy_a, 10), (happy_b, 10))
    for i, (happy_a, happy_b) in enumerate([(4, 6), (5, 5), (6, 4), (5, 6), (4, 4), (5, 5)])
}
ANSWERS = {"Yes": YES, "No": NO, "Prefer not to say": UNSAID}
RATINGS = {"Yes": (2, 6), "No": (6, 2), "Prefer not to say": (4, 4)}


@pytest.fixture
def calibrated_model(db):
    model = unloadable_model("audiences")
    calibration = store_calibration(model, activate=False)
    Calibration.objects.filter(pk=calibration.pk).update(is_active=True)  # its predictions are written current
    calibration.refresh_from_db()
    return model, calibration


def generated(organisation, model, calibration, answers: dict[str, dict]) -> tuple[Built, ScreenerQuestion | None]:
    """A running campaign of these testers, by answer; the screener question only with several answers."""
    faces = {name: sides for testers in answers.values() for name, sides in testers.items()}
    ratings = {name: RATINGS[answer] for answer, testers in answers.items() for name in testers}
    built = build_campaign(organisation, faces, ratings, model=model)
    make_current(built.campaign, calibration)
    SurveyAnswer.objects.filter(tester__campaign=built.campaign, rating=6).update(comment="I liked one a lot")
    if len(answers) == 1:
        return built, None
    question = ScreenerQuestion.objects.create(
        campaign=built.campaign, kind="customer", text="Are you already a customer?", choices=list(ANSWERS)
    )
    ScreenerAnswer.objects.bulk_create(
        ScreenerAnswer(tester=built.testers[name], question=question, choice=answer)
        for answer, testers in answers.items()
        for name in testers
    )
    return built, question


def data(client, built: Built, **query) -> tuple[int, dict]:
    response = client.get(reverse("dashboard-api:data", kwargs={"campaign_id": built.campaign.pk}), query)
    return response.status_code, response.json()


def main_figures(data: dict, *, approximately: bool = False) -> dict:
    """The per-variant figures that cannot depend on which campaign the same testers are in (up to
    the order of a floating-point sum: compare an `approximately` side with an exact one)."""
    near = pytest.approx if approximately else (lambda value: value)
    return {
        "variants": [
            (
                v["label"],
                v["testers"],
                v["frames"],
                [(c["class_name"], c["count"], near(c["tester_mean"])) for c in v["classes"]],
            )
            for v in data["variants"]
        ],
        "shares": [
            (v["label"], [(c["class_name"], near(c["share"])) for c in v["classes"]])
            for v in data["estimated_shares"]["variants"]
        ],
        "verdict": [
            (e["class_name"], e["n"], e["leader_label"], [(p["n"], near(p["estimate"])) for p in e["pairs"]])
            for e in data["decision"]["emotions"]
        ],
    }


@pytest.mark.django_db
def test_an_audience_restricts_every_figure_to_its_testers(client, owner, organisation, calibrated_model):
    model, _calibration = calibrated_model
    built, question = generated(organisation, *calibrated_model, ANSWERS)
    alone, _none = generated(organisation, *calibrated_model, {"Yes": YES})
    for name in ("y0", "n0", "n1"):
        add_snapshot(built.testers[name], model, "resting", 0, probabilities(list(model.class_names), 0.2))
    client.force_login(owner)

    status, customers = data(client, built, audience=f"{question.pk}:Yes")
    _status, reference = data(client, alone)

    assert status == 200
    assert customers["audience"] == {
        "value": f"{question.pk}:Yes",
        "question": question.pk,
        "question_text": "Are you already a customer?",
        "choice": "Yes",
        "testers": 5,
    }
    # The same figures as a campaign of the five customers alone.
    assert main_figures(customers, approximately=True) == main_figures(reference)
    happy_b = next(c for c in customers["variants"][1]["classes"] if c["class_name"] == "happy")
    assert happy_b["tester_mean"]["mean"] == pytest.approx((8 + 9 + 7 + 8 + 9) / 50)
    assert customers["estimated_shares"]["testers"] == 5
    assert customers["progress"] == {"invited": 5, "opened": 5, "withdrawn": 0, "consented": 5, "completed": 5}
    assert customers["frames"]["received"] == 5 * 2 * 10
    assert customers["testers"]["included"] == 5
    assert customers["survey"]["questions"][0]["variants"][0]["mean"] == 2
    assert customers["survey"]["comments_total"] == 5  # each customer rated B 6, and commented
    assert customers["say_face"]["counted_testers"] == 5
    assert customers["baseline"]["testers_with_baseline"] == 1
    assert [row["happy_share"]["value"] for row in customers["norms"]["variants"]] == [
        pytest.approx(0.18),
        pytest.approx(0.82),
    ]
    assert [row["rating"]["value"] for row in customers["norms"]["variants"]] == [2, 6]
    _status, everyone = data(client, built)
    assert everyone["testers"]["included"] == 15 and everyone["audience"] is None
    assert everyone["baseline"]["testers_with_baseline"] == 3
    assert everyone["screener"][0]["choices"][1] == {"choice": "No", "audience": f"{question.pk}:No"}


@pytest.mark.django_db
def test_a_split_shows_each_group_with_its_own_figures_and_refuses_the_small_one(
    client, owner, organisation, calibrated_model
):
    built, question = generated(organisation, *calibrated_model, ANSWERS)
    client.force_login(owner)
    _status, customers = data(client, built, audience=f"{question.pk}:Yes")
    _status, unsaid = data(client, built, audience=f"{question.pk}:Prefer not to say")

    status, split = data(client, built, split=question.pk)

    assert status == 200
    yes, no, prefer_not = split["split"]["groups"]
    assert (yes["choice"], yes["shown"], yes["testers"], prefer_not["shown"], prefer_not["testers"]) == (
        "Yes",
        True,
        5,
        True,
        6,
    )
    for group, alone in ((yes, customers), (prefer_not, unsaid)):
        assert group["variants"] == alone["variants"]
        assert group["verdict"]["emotions"] == alone["decision"]["emotions"]
        assert group["estimated_shares"]["testers"] == alone["estimated_shares"]["testers"]
        assert [v["classes"] for v in group["estimated_shares"]["variants"]] == [
            v["classes"] for v in alone["estimated_shares"]["variants"]
        ]
    happy = {c["class_name"]: c for c in yes["variants"][0]["classes"]}["happy"]
    assert happy["tester_mean"]["mean"] == pytest.approx(0.18)
    # Four testers: the refusal in the one error shape, and no figure, not even the group's size.
    assert no == {
        "choice": "No",
        "audience": f"{question.pk}:No",
        "shown": False,
        "error": {"message": no["error"]["message"], "extra": {"reason": TOO_FEW_TESTERS, "minimum": 5}},
    }
    assert no["error"]["message"].startswith("Too few testers in this group to show")
    # The whole campaign's figures stay beside the split.
    assert split["testers"]["included"] == 15


@pytest.mark.django_db
def test_a_group_of_four_is_refused_by_the_api_the_page_and_the_exports_and_one_of_five_is_shown(
    client, owner, organisation, calibrated_model
):
    built, question = generated(organisation, *calibrated_model, ANSWERS)
    client.force_login(owner)
    four, five = f"{question.pk}:No", f"{question.pk}:Yes"
    page_url = reverse("dashboard:campaign", kwargs={"campaign_id": built.campaign.pk})

    refused = client.get(reverse("dashboard-api:data", kwargs={"campaign_id": built.campaign.pk}), {"audience": four})
    page = client.get(page_url, {"audience": four})
    exports = {
        kind: client.get(
            reverse("dashboard-api:export", kwargs={"campaign_id": built.campaign.pk, "kind": kind}), {"audience": four}
        )
        for kind in ("frames", "testers", "survey", "baseline", "say-face", "norms")
    }

    assert refused.status_code == 403
    body = refused.json()
    assert set(body) == {"message", "extra"} and body["extra"] == {"reason": TOO_FEW_TESTERS, "minimum": 5}
    assert body["message"].startswith("Too few testers in this group to show")
    assert page.status_code == 403
    text = html.unescape(page.text)
    assert "Too few testers in this group to show" in text
    # No figure: the page that loads them is not there, nor a link to any export.
    assert 'id="dashboard"' not in text and "/exports/" not in text
    for kind, response in exports.items():
        assert (kind, response.status_code, response.json()["extra"]) == (kind, 403, body["extra"])

    shown = client.get(page_url, {"audience": five})
    assert shown.status_code == 200
    shown_text = html.unescape(shown.text)
    assert 'id="dashboard"' in shown_text
    assert "Every figure below is of the 5 testers who answered “Yes” to “Are you already a customer?”." in shown_text
    # The aggregate exports follow the audience; the per-tester ones do not take it.
    assert f"say-face.csv?audience={question.pk}%3AYes" in shown_text
    assert "testers.csv?" not in shown_text
    assert data(client, built, audience=five)[0] == 200


@pytest.mark.django_db
def test_aggregate_exports_keep_to_the_audience_and_per_tester_exports_refuse_it(
    client, owner, organisation, calibrated_model
):
    built, question = generated(organisation, *calibrated_model, ANSWERS)
    client.force_login(owner)

    def export(kind: str, **query):
        url = reverse("dashboard-api:export", kwargs={"campaign_id": built.campaign.pk, "kind": kind})
        return client.get(url, query)

    def rows(response) -> list[dict]:
        assert response.status_code == 200, response.content
        return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))

    everyone = rows(export("testers"))
    refused = {
        kind: export(kind, audience=f"{question.pk}:Yes") for kind in ("frames", "testers", "survey", "baseline")
    }

    # No screener answer beside a pseudonymous id: two exports could be set against each other.
    assert not [name for name in everyone[0] if name.startswith("screener")]
    assert len({row["tester"] for row in everyone}) == 15
    for kind, response in refused.items():
        assert response.status_code == 400, kind
        assert response.json()["extra"] == {"fields": {"audience": [f"{question.pk}:Yes"]}}
    say_face = rows(export("say-face", audience=f"{question.pk}:Yes"))
    assert {row["testers"] for row in say_face if row["scope"] == "variant"} == {"5"}
    norms = {
        (row["variant"], row["figure"]): row["value"] for row in rows(export("norms", audience=f"{question.pk}:Yes"))
    }
    assert float(norms[("A", "rating")]) == 2 and float(norms[("B", "happy_share")]) == pytest.approx(0.82)


@pytest.mark.django_db
def test_the_minimum_follows_the_setting_and_unknown_audiences_are_a_400(
    client, owner, organisation, calibrated_model, settings
):
    built, question = generated(organisation, *calibrated_model, ANSWERS)
    client.force_login(owner)
    settings.MIMIK = {**settings.MIMIK, "MIN_AUDIENCE_TESTERS": 4}

    status, four = data(client, built, audience=f"{question.pk}:No")
    unknown_choice = data(client, built, audience=f"{question.pk}:Maybe")
    unknown_question = data(client, built, split="999999")

    assert status == 200 and four["audience"]["testers"] == 4 and four["testers"]["included"] == 4
    assert unknown_choice[0] == 400 and unknown_choice[1]["extra"] == {"fields": {"audience": [f"{question.pk}:Maybe"]}}
    assert unknown_question[0] == 400 and unknown_question[1]["extra"] == {"fields": {"split": ["999999"]}}
    assert four["split"] is None


@pytest.mark.django_db
def test_a_group_is_refused_when_the_testers_outside_it_are_too_few_since_the_rest_would_show_them(
    client, owner, organisation, calibrated_model
):
    answers = {"Yes": {**ANSWERS["Yes"], **ANSWERS["Prefer not to say"]}, "No": ANSWERS["No"]}
    built, question = generated(organisation, *calibrated_model, answers)
    client.force_login(owner)

    status, body = data(client, built, audience=f"{question.pk}:Yes")
    _status, split = data(client, built, split=question.pk)

    assert len(answers["Yes"]) == 11 and len(answers["No"]) == 4
    assert status == 403 and body["extra"] == {"reason": TOO_FEW_TESTERS, "minimum": 5}
    assert body["message"].startswith("Too few testers outside this group to show it")
    assert [(group["choice"], group["shown"]) for group in split["split"]["groups"]] == [
        ("Yes", False),
        ("No", False),
        ("Prefer not to say", False),
    ]


@pytest.mark.django_db
def test_a_group_is_measured_by_the_testers_its_emotion_figures_count_not_by_its_answers(
    client, owner, organisation, calibrated_model
):
    built, question = generated(organisation, *calibrated_model, ANSWERS)
    # A fifth "No": answered the screener, then sent no snapshot, so no emotion figure counts them.
    late = built.campaign.testers.create(token_hash="late" * 16, camera="granted")
    ScreenerAnswer.objects.create(tester=late, question=question, choice="No")
    client.force_login(owner)

    status, body = data(client, built, audience=f"{question.pk}:No")
    _status, split = data(client, built, split=question.pk)

    assert status == 403 and body["extra"] == {"reason": TOO_FEW_TESTERS, "minimum": 5}
    assert [(group["choice"], group["shown"]) for group in split["split"]["groups"]] == [
        ("Yes", True),
        ("No", False),
        ("Prefer not to say", True),
    ]
