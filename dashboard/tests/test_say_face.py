"""Say versus face on built campaigns whose every tester's rating and happy share are chosen."""

from __future__ import annotations

import math

import numpy as np
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation
from scipy import stats as scipy_stats

from dashboard.say_face import say_face_rows, say_face_summary, spearman_agreement

from .conftest import AGREEING, SMILES, Built, build_campaign, dashboard_inputs

Z_975 = 1.959964  # normal quantile from a printed table


def summary(built: Built) -> dict:
    matrix = dashboard_inputs(built.campaign)["matrix"]
    with translation.override("en"):
        return say_face_summary(campaign=built.campaign, matrix=matrix, ratios=matrix.ratios())


# The same ratings the other way round.
REVERSED = {name: (8 - a, 8 - b) for name, (a, b) in AGREEING.items()}


def shares_and_ratings(faces, ratings, v):
    return [ratings[name][v] for name in faces], [faces[name][v][0] / faces[name][v][1] for name in faces]


@pytest.mark.django_db
def test_ratings_that_follow_the_faces_give_rho_near_one_with_an_interval_above_zero(organisation):
    built = build_campaign(organisation, SMILES, AGREEING)

    question = summary(built)["questions"][0]

    for v, row in enumerate(question["variants"]):
        ratings, shares = shares_and_ratings(SMILES, AGREEING, v)
        agreement = row["agreement"]
        assert agreement["n"] == 8
        assert agreement["rho"] == pytest.approx(scipy_stats.spearmanr(ratings, shares).statistic)
        assert agreement["rho"] > 0.95
        assert 0 < agreement["low"] < agreement["rho"] < agreement["high"] <= 1
        assert agreement["sentence"].startswith(f"On {row['label']}, testers who rated it higher also smiled more")
        assert row["happy_share"]["mean"] == pytest.approx(np.mean(shares))
        assert row["rating"]["mean"] == pytest.approx(np.mean(ratings))
    pair = question["pairs"][0]["agreement"]
    assert pair["rho"] > 0.95 and pair["low"] > 0
    assert pair["sentence"].startswith("Testers who liked B more than A also smiled more at B than at A")


@pytest.mark.django_db
def test_reversed_ratings_give_a_negative_rho(organisation):
    built = build_campaign(organisation, SMILES, REVERSED)

    question = summary(built)["questions"][0]

    for row in question["variants"]:
        assert row["agreement"]["rho"] < -0.95
        assert row["agreement"]["high"] < 0
        assert "testers who rated it higher smiled less" in row["agreement"]["sentence"]
    assert question["pairs"][0]["agreement"]["rho"] < -0.95
    assert question["pairs"][0]["agreement"]["high"] < 0


def test_interval_is_fisher_z_with_the_bonett_wright_standard_error():
    x = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    y = [2, 1, 4, 3, 7, 5, 6, 10, 8, 9]
    rho = scipy_stats.spearmanr(x, y).statistic
    half_width = Z_975 * math.sqrt((1 + rho**2 / 2) / (10 - 3))

    agreement = spearman_agreement(x, y)

    assert agreement["rho"] == pytest.approx(rho)
    assert agreement["low"] == pytest.approx(math.tanh(math.atanh(rho) - half_width), abs=1e-5)
    assert agreement["high"] == pytest.approx(math.tanh(math.atanh(rho) + half_width), abs=1e-5)
    # Below 4 testers the standard error is undefined: no rho is claimed.
    assert spearman_agreement(x[:3], y[:3])["rho"] is None


@pytest.mark.django_db
def test_the_testers_whose_rating_and_face_disagree_most_are_named(organisation):
    # B - A happy share rises with i; so does B - A rating, except that "loud" rated B far above A
    # while smiling least at B, and "quiet" the other way round.
    faces = {f"t{i}": ((5, 10), (i, 10)) for i in range(1, 9)}
    ratings = {f"t{i}": (4, min(7, 1 + i * 3 // 4)) for i in range(1, 9)}
    faces |= {"loud": ((9, 10), (0, 10)), "quiet": ((0, 10), (10, 10))}
    ratings |= {"loud": (1, 7), "quiet": (7, 1)}
    built = build_campaign(organisation, faces, ratings)

    question = summary(built)["questions"][0]

    listed = question["disagreements"]
    assert 2 <= len(listed) <= 5
    assert {entry["tester"] for entry in listed[:2]} == {built.short_id("loud"), built.short_id("quiet")}
    assert all(entry["gap"] < listed[1]["gap"] for entry in listed[2:])
    loud = next(entry for entry in listed if entry["tester"] == built.short_id("loud"))
    assert (loud["rating_difference"], loud["happy_difference"]) == (6, pytest.approx(-0.9))
    assert (
        loud["sentence"]
        == f"Tester {built.short_id('loud')} rated B +6 against A; happy share on B −90 points against A."
    )
    assert question["disagreements_note"] == ""
    # Nobody else's id appears, and only the short pseudonym of those listed.
    assert all(len(entry["tester"]) == 8 for entry in listed)


@pytest.mark.django_db
def test_nobody_is_named_below_five_counted_testers(organisation):
    faces = {f"t{i}": ((i, 10), (10 - i, 10)) for i in range(1, 5)}
    ratings = {f"t{i}": (1 + i, 7 - i) for i in range(1, 5)}
    # A fifth tester who answered, but whose face counts on one variant only: not counted.
    faces["short"] = ((5, 10), (0, 1))
    ratings["short"] = (7, 1)
    built = build_campaign(organisation, faces, ratings, min_frames=3)

    data = summary(built)

    assert data["counted_testers"] == 4
    question = data["questions"][0]
    assert question["disagreements"] == []
    assert question["disagreements_note"].startswith(
        "The testers whose rating and face disagree most are named once 5 counted testers have rated the variants"
    )
    # The uncounted tester's ratings still count in the survey means, not in the correlation.
    assert question["variants"][0]["rating"]["n"] == 5
    assert question["variants"][0]["agreement"]["n"] == 4


@pytest.mark.django_db
def test_say_face_reads_two_queries_whatever_the_size(organisation):
    small = build_campaign(organisation, dict(list(SMILES.items())[:4]), AGREEING)
    # Twice the testers and a third variant.
    faces = {f"{name}{copy}": (*sides, (3, 10)) for name, sides in SMILES.items() for copy in "xy"}
    ratings = {f"{name}{copy}": (*given, 4) for name, given in AGREEING.items() for copy in "xy"}
    large = build_campaign(organisation, faces, ratings, labels=("A", "B", "C"))
    matrices = [dashboard_inputs(built.campaign)["matrix"] for built in (small, large)]

    counts = []
    for built, matrix in zip((small, large), matrices, strict=True):
        with CaptureQueriesContext(connection) as queries:
            say_face_summary(campaign=built.campaign, matrix=matrix, ratios=matrix.ratios())
        counts.append(len(queries))

    assert counts == [2, 2]


@pytest.mark.django_db
def test_csv_rows_carry_the_dashboards_figures_and_no_tester(organisation):
    built = build_campaign(organisation, SMILES, AGREEING)
    question = summary(built)["questions"][0]

    header, rows = say_face_rows(campaign=built.campaign, threshold=built.campaign.confidence_threshold)
    rows = list(rows)
    text = repr(rows)

    assert header[:3] == ["question", "scope", "variant"]
    assert [row[1:3] for row in rows] == [("variant", "A"), ("variant", "B"), ("difference", "B - A")]
    by_name = dict(zip(header, rows[0], strict=True))
    assert by_name["testers"] == 8
    assert by_name["spearman_rho"] == pytest.approx(question["variants"][0]["agreement"]["rho"])
    assert by_name["mean_happy_share"] == pytest.approx(question["variants"][0]["happy_share"]["mean"])
    assert all(str(tester.pk)[:8] not in text for tester in built.testers.values())
