from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from campaigns.models import Campaign


class ReportLink(models.Model):
    """A read-only link to one campaign's report, for people without an account. Only the token's
    SHA-256 is stored (campaigns.tokens), so the link is shown once, when it is made."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="report_links")
    token_hash = models.CharField(max_length=64, unique=True)
    # blank=True: the researcher's account may be deleted (SET_NULL); the link stays theirs to no one.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["campaign", "expires_at"])]

    def __str__(self) -> str:
        return f"{self.campaign} until {self.expires_at:%Y-%m-%d}"
