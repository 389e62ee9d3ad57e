"""The tester planner for the campaign page: the page belongs to campaigns, the plan to the
dashboard's figures, so the page asks for it by name here instead of importing them."""

from __future__ import annotations

from typing import Any

from django import template

from dashboard.verdicts import campaign_plan

register = template.Library()


@register.simple_tag
def tester_plan(campaign, variants, invited: int) -> dict[str, Any]:
    """`{% tester_plan campaign variants invited as plan %}`: how many testers the campaign needs."""
    return campaign_plan(campaign=campaign, variants=variants, invited=invited)
