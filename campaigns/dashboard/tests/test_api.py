"""The JSON endpoint, the CSV exports and the page, seen by each persona."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from campaigns.models import Organisation

from .conftest import make_user


def data_url(campaign, **query):
    url = reverse("dashboard-api:data", kwargs={"campaign_id": campaign.pk})
    return url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def export(client, campaign, kind, **query):
    url = reverse("dashboard-api:export", kwargs={"campaign_id": campaign.pk, "kind": kind})
    response = client.get(url, query)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/csv")
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
