"""Reads for the researcher's side. Access to a campaign always goes through get_campaign_for_user."""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet
from django.http import Http404

from campaigns.models import Campaign, Organisation


def organisation_for_user(user: AbstractBaseUser | AnonymousUser) -> Organisation | None:
    if not user.is_authenticated:
        return None
    membership = getattr(user, "membership", None)
    return membership.organisation if membership is not None else None


def campaigns_for_user(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Campaign]:
    organisation = organisation_for_user(user)
    if organisation is None:
        return Campaign.objects.none()
    return Campaign.objects.filter(organisation=organisation)


def get_campaign_for_user(user: AbstractBaseUser | AnonymousUser, campaign_id: uuid.UUID | str) -> Campaign:
    """The one way to fetch a campaign for a researcher: 404 for anyone outside its organisation."""
    try:
        campaign_uuid = uuid.UUID(str(campaign_id))
    except ValueError as error:
        raise Http404("No such campaign.") from error
    campaign = campaigns_for_user(user).filter(pk=campaign_uuid).first()
    if campaign is None:
        raise Http404("No such campaign.")
    return campaign
