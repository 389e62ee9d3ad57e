"""Researchers see only their organisation's campaigns: every other id answers 404, in pages and API."""

from __future__ import annotations

import uuid

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from campaigns.models import Invitation, SurveyQuestion, Variant
from campaigns.tests.conftest import image_bytes, make_campaign
from campaigns.tokens import new_token


def campaign_routes(resolver: URLResolver | None = None, prefix: str = "", namespace: str = "") -> list[tuple]:
    """Every named route in the project that takes a campaign id, with its namespace and kwargs."""
    routes = []
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            routes += campaign_routes(entry, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern) and entry.name and "campaign_id" in entry.pattern.converters:
            routes.append((namespace + entry.name, set(entry.pattern.converters)))
    return routes


def kwargs_for(params: set[str], campaign, variant, question, invitation) -> dict | None:
    known = {
        "campaign_id": campaign.pk,
        "variant_id": variant.pk,
        "question_id": question.pk,
        "invitation_id": invitation.pk,
    }
    if not params <= set(known):
        return None
    return {name: known[name] for name in params}


@pytest.fixture
def foreign_campaign(personas):
    """A campaign of the owner's organisation, with one of each child object."""
    from campaigns.media_validation import ValidatedMedia
    from campaigns.services import question_add, variant_add

    campaign = make_campaign(personas)
    media = ValidatedMedia(
        kind="image", content_type="image/png", extension="png", content=image_bytes(), width=64, height=48
    )
    variant = variant_add(campaign=campaign, label="A", media=media)
    question = question_add(campaign=campaign, kind=SurveyQuestion.Kind.SCALE, text="Like it?")
    invitation = Invitation.objects.create(
        campaign=campaign, email="t@example.com", token_hash=new_token()[1], expires_at="2099-01-01T00:00Z"
    )
    return campaign, variant, question, invitation


@pytest.mark.django_db
def test_every_campaign_route_answers_404_to_another_organisation(client, personas, foreign_campaign):
    routes = campaign_routes()
    names = {name for name, _ in routes}
    assert {"campaigns:detail", "campaigns:variant_media", "campaigns:invitation_resend"} <= names
    checked = []
    for name, params in routes:
        kwargs = kwargs_for(params, *foreign_campaign)
        if kwargs is None:
            continue
        url = reverse(name, kwargs=kwargs)
        client.force_login(personas.outsider)
        statuses = {client.get(url).status_code, client.post(url).status_code}
        # 405 only for the method a route does not take; the other one must be 404.
        assert 404 in statuses and statuses <= {404, 405}, (name, statuses)
        client.logout()
        anonymous = client.get(url)
        assert anonymous.status_code in {302, 401, 403, 404, 405}, (name, anonymous.status_code)
        assert anonymous.status_code != 200
        checked.append(name)
    assert len(checked) >= 18, checked
    print("checked routes:", sorted(checked))
    # Nothing changed for the owner: the outsider's POSTs were all refused.
    campaign, variant, question, invitation = foreign_campaign
    campaign.refresh_from_db()
    invitation.refresh_from_db()
    assert (campaign.status, campaign.archived_at, campaign.open_link_token_hash) == ("draft", None, "")
    assert Variant.objects.filter(pk=variant.pk).exists() and SurveyQuestion.objects.filter(pk=question.pk).exists()
    assert invitation.revoked_at is None
    assert personas.organisation.campaigns.count() == 1


@pytest.mark.django_db
def test_owner_and_teammate_reach_the_pages_and_unknown_ids_are_404(client, personas, foreign_campaign):
    campaign, variant, question, invitation = foreign_campaign
    pages = ["detail", "edit", "variant_add", "question_add", "invitations_add"]
    for user in (personas.owner, personas.teammate):
        client.force_login(user)
        for name in pages:
            assert client.get(reverse(f"campaigns:{name}", kwargs={"campaign_id": campaign.pk})).status_code == 200
        media = reverse("campaigns:variant_media", kwargs={"campaign_id": campaign.pk, "variant_id": variant.pk})
        assert client.get(media).status_code == 200
        assert "Herbst" in client.get(reverse("campaigns:list")).content.decode()
    # A real variant id under a campaign id that does not match is still 404.
    other = make_campaign(personas, name="Other")
    mixed = reverse("campaigns:variant_media", kwargs={"campaign_id": other.pk, "variant_id": variant.pk})
    assert client.get(mixed).status_code == 404
    assert client.get(reverse("campaigns:detail", kwargs={"campaign_id": uuid.uuid4()})).status_code == 404
    client.force_login(personas.outsider)
    assert "Herbst" not in client.get(reverse("campaigns:list")).content.decode()
