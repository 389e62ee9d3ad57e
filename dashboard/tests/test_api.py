"""The JSON endpoint, the CSV exports and the page, seen by each persona."""

from __future__ import annotations

import csv
import html
import io
import re

import pytest
from django.urls import reverse

from campaigns.models import Organisation
from inference.models import ModelVersion

from .conftest import make_user, panel_campaign


def data_url(campaign, **query):
    url = reverse("dashboard-api:data", kwargs={"campaign_id": campaign.pk})
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def export(client, campaign, kind, **query):
    url = reverse("dashboard-api:export", kwargs={"campaign_id": campaign.pk, "kind": kind})
    response = client.get(url, query)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].endswith(f'-{kind}.csv"')
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


@pytest.mark.django_db
def test_owner_and_teammate_get_the_aggregates(client, fixed, owner, organisation):
    teammate = make_user("teammate", organisation)
    for user in (owner, teammate):
        client.force_login(user)
        response = client.get(data_url(fixed.campaign))

        assert response.status_code == 200
        b = next(v for v in response.json()["variants"] if v["label"] == "B")
        assert next(c for c in b["classes"] if c["class_name"] == "happy")["count"] == 16


@pytest.mark.django_db
def test_outsider_gets_404_and_anonymous_403_in_the_error_shape(client, fixed, outsider):
    assert client.get(data_url(fixed.campaign)).status_code == 403

    client.force_login(outsider)
    response = client.get(data_url(fixed.campaign))
    assert response.status_code == 404
    assert set(response.json()) == {"message", "extra"}
    export_url = reverse("dashboard-api:export", kwargs={"campaign_id": fixed.campaign.pk, "kind": "frames"})
    assert client.get(export_url).status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize("value", ["1.5", "-0.1", "abc", "nan"])
def test_threshold_outside_zero_to_one_is_a_400(client, fixed, owner, value):
    client.force_login(owner)
    response = client.get(data_url(fixed.campaign, threshold=value))

    assert response.status_code == 400
    assert response.json()["message"] == "The threshold must be a number from 0 to 1."
    assert response.json()["extra"]["fields"]["threshold"] == [value]


@pytest.mark.django_db
def test_threshold_query_recomputes(client, fixed, owner):
    client.force_login(owner)
    body = client.get(data_url(fixed.campaign, threshold="0.2")).json()

    b = next(v for v in body["variants"] if v["label"] == "B")
    assert body["threshold"] == 0.2 and body["default_threshold"] == 0.5
    assert next(c for c in b["classes"] if c["class_name"] == "happy")["count"] == 17


@pytest.mark.django_db
def test_frame_export_lists_every_frame_with_its_outcome_and_no_email(client, fixed, owner):
    client.force_login(owner)
    rows = export(client, fixed.campaign, "frames")

    assert len(rows) == 66  # every frame received, see conftest
    outcomes = [row["outcome"] for row in rows]
    assert outcomes.count("no_face") == 8 and outcomes.count("blurred") == 1
    t1_b = [row for row in rows if row["tester"] == str(fixed.testers["t1"].pk) and row["variant"] == "B"]
    assert [(r["top_class"], r["confident"]) for r in t1_b] == [
        ("happy", "1"),
        ("happy", "0"),
        ("neutral", "1"),
        ("sad", "1"),
    ]
    assert "image" not in rows[0] and "kept_image" not in rows[0]
    raw = "".join(str(row) for row in rows)
    assert "@example.org" not in raw


@pytest.mark.django_db
def test_tester_export_matches_the_dashboard_and_marks_excluded_testers(client, fixed, owner):
    client.force_login(owner)
    rows = export(client, fixed.campaign, "testers")

    by_key = {(row["tester"], row["variant"]): row for row in rows}
    t5_b = by_key[(str(fixed.testers["t5"].pk), "B")]
    assert (t5_b["analysed_frames"], t5_b["count_happy"], t5_b["ratio_happy"], t5_b["in_analysis"]) == (
        "5",
        "4",
        "0.8",
        "1",
    )
    assert t5_b["seen_at_position"] == "2"
    t7_a = by_key[(str(fixed.testers["t7"].pk), "A")]
    assert (t7_a["analysed_frames"], t7_a["in_analysis"]) == ("0", "0")
    assert by_key[(str(fixed.testers["t8"].pk), "B")]["in_analysis"] == "0"
    # t1..t8 (t9 withdrew, t10 sent no frames) x 2 variants.
    assert len(rows) == 16


@pytest.mark.django_db
def test_survey_export_defuses_spreadsheet_formulas(client, fixed, owner):
    fixed.testers["t2"].answers.filter(variant=fixed.a).update(comment="=HYPERLINK(1)")
    client.force_login(owner)
    rows = export(client, fixed.campaign, "survey")

    assert "'=HYPERLINK(1)" in [row["comment"] for row in rows]
    assert "t9 was here" not in [row["comment"] for row in rows]


@pytest.mark.django_db
def test_page_is_for_members_only(client, fixed, owner):
    url = reverse("dashboard:campaign", kwargs={"campaign_id": fixed.campaign.pk})
    assert client.get(url).status_code == 302

    client.force_login(make_user("stranger", Organisation.objects.create(name="Elsewhere")))
    assert client.get(url).status_code == 404

    client.force_login(owner)
    response = client.get(url)
    assert response.status_code == 200
    assert b"vendor/plotly/plotly.min.js" in response.content
    assert b"<script>" not in response.content  # no inline script under the CSP


@pytest.mark.django_db
def test_the_schema_documents_the_dashboard_endpoint(client, owner):
    client.force_login(owner)
    response = client.get(reverse("api-schema"), {"format": "json"})

    assert response.status_code == 200
    schema = response.json() if response["Content-Type"].startswith("application/json") else None
    text = response.content.decode()
    assert "campaign_dashboard" in text
    assert schema is None or any("dashboard" in path for path in schema["paths"])


@pytest.mark.django_db
def test_the_dashboard_names_the_model_with_a_link_to_its_card(client, fixed, owner, outsider):
    fixed.model.model_card = "# Model card: the default\n\n- Licence status: FER2013 carries no licence\n"
    fixed.model.save(update_fields=["model_card"])
    client.force_login(owner)
    model = client.get(data_url(fixed.campaign)).json()["model"]

    assert model["card_url"] == reverse("dashboard:model-card", kwargs={"model_version_id": fixed.model.pk})
    # Models are global, so a researcher outside the campaign's organisation reads the card too.
    client.force_login(outsider)
    response = client.get(model["card_url"])
    assert response.status_code == 200
    assert b"- Licence status: FER2013 carries no licence" in response.content


@pytest.mark.django_db
def test_the_api_sets_each_variant_beside_the_resting_face_the_ratings_and_the_norms(client, owner, organisation):
    built = panel_campaign(organisation)
    client.force_login(owner)

    data = client.get(data_url(built.campaign)).json()

    baseline = data["baseline"]
    assert baseline["sentence"] == (
        "4 of 8 counted testers have a resting-face baseline (their relaxed face before the first advertisement); "
        "the table rests on them."
    )
    assert baseline["posed_sentence"] == "Posed smiles read as happy: 50 %, 1 tester."
    a, b = baseline["variants"]
    # t1-t4 smiled at 1-4 of 10 frames on A (mean happy 0.1 + 0.08 * 2.5) and at 9-6 on B (0.1 + 0.08 * 7.5).
    assert (a["testers"], a["classes"]["happy"]["resting"]) == (4, pytest.approx(0.2))
    assert a["classes"]["happy"]["relative"]["mean"] == pytest.approx(0.3 - 0.2)
    assert b["classes"]["happy"]["relative"]["mean"] == pytest.approx(0.7 - 0.2)
    assert "testers" not in baseline  # one row per tester is the export's

    question = data["say_face"]["questions"][0]
    assert [row["rating_counted"]["mean"] for row in question["variants"]] == pytest.approx([4.0, 4.75])
    assert [row["happy_share"]["mean"] for row in question["variants"]] == pytest.approx([0.45, 0.55])
    assert question["variants"][0]["agreement"]["sentence"].startswith(
        "On A, testers who rated it higher also smiled more: Spearman ρ "
    )
    assert question["pairs"][0]["agreement"]["sentence"].startswith(
        "Testers who liked B more than A also smiled more at B than at A"
    )

    norms = data["norms"]
    # Finished variants at 10 % to 60 % happy, rated 1 to 6. A: 45 % is above four of six; rated 4.0 (the
    # middle of 1-7): above 1, 2, 3 and level with 4. B: 55 % above five; rated 4.75, above four.
    (a_norms, b_norms) = norms["variants"]
    assert (a_norms["happy_share"]["percentile"], a_norms["rating"]["percentile"]) == pytest.approx(
        (100 * 4 / 6, 100 * 3.5 / 6)
    )
    assert (b_norms["happy_share"]["percentile"], b_norms["rating"]["percentile"]) == pytest.approx(
        (100 * 5 / 6, 100 * 4 / 6)
    )
    assert norms["sentences"][0] == (
        "A has a happy share of 45 %: percentile rank 67 among your organisation's 6 finished variants (median 35 %)."
    )
    assert len(norms["sentences"]) == 4


@pytest.mark.django_db
def test_the_baseline_say_face_and_norms_exports_download_with_their_headers(client, owner, organisation):
    built = panel_campaign(organisation)
    client.force_login(owner)

    baseline = export(client, built.campaign, "baseline")
    say_face = export(client, built.campaign, "say-face")
    norms = export(client, built.campaign, "norms")

    t1 = next(row for row in baseline if row["tester"] == str(built.testers["t1"].pk))
    assert len(baseline) == 4
    assert (t1["counted"], t1["resting_snapshots"], t1["baseline_happy"], t1["baseline_neutral"]) == (
        "1",
        "1",
        "0.2",
        "0.8",
    )
    assert (t1["posed_smile_snapshots"], t1["smile_read_as_happy"], t1["posed_neutral_snapshots"]) == ("2", "0.5", "0")
    assert list(say_face[0]) == [
        "question",
        "scope",
        "variant",
        "testers",
        "mean_rating",
        "mean_happy_share",
        "spearman_rho",
        "rho_low",
        "rho_high",
    ]
    assert [(row["scope"], row["variant"], row["testers"]) for row in say_face] == [
        ("variant", "A", "8"),
        ("variant", "B", "8"),
        ("difference", "B - A", "8"),
    ]
    assert list(norms[0]) == [
        "variant",
        "figure",
        "value",
        "percentile",
        "earlier_variants",
        "earlier_median",
        "more_needed",
    ]
    assert [(row["variant"], row["figure"], row["earlier_variants"]) for row in norms] == [
        ("A", "happy_share", "6"),
        ("A", "rating", "6"),
        ("B", "happy_share", "6"),
        ("B", "rating", "6"),
    ]
    assert float(norms[0]["percentile"]) == pytest.approx(100 * 4 / 6, abs=1e-6)


@pytest.mark.django_db
def test_without_a_model_the_baseline_say_face_and_norms_are_left_out(client, fixed, owner):
    ModelVersion.objects.update(is_active=False)
    client.force_login(owner)

    data = client.get(data_url(fixed.campaign)).json()

    assert data["model"] is None
    assert (data["baseline"], data["say_face"], data["norms"]) == (None, None, None)


@pytest.mark.django_db
def test_the_page_has_the_new_panels_after_the_verdict_and_their_exports(client, fixed, owner):
    client.force_login(owner)
    page = html.unescape(client.get(reverse("dashboard:campaign", kwargs={"campaign_id": fixed.campaign.pk})).text)

    sections = re.findall(r'<section [^>]*aria-labelledby="([^"]+)"', page)
    headings = dict(re.findall(r'<h2 id="([^"]+)">([^<]+)</h2>', page))
    assert headings[sections[0]] == "Verdict"
    new_panels = ("baseline-title", "say-face-title", "norms-title")
    assert [headings[section] for section in sections if section in new_panels] == [
        "Relative to each tester's resting face",
        "Say versus face",
        "Norms",
    ]
    for kind in ("baseline", "say-face", "norms"):
        assert reverse("dashboard-api:export", kwargs={"campaign_id": fixed.campaign.pk, "kind": kind}) in page
