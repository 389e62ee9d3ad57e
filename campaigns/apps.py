from django.apps import AppConfig


class CampaignsConfig(AppConfig):
    """The researcher's side: organisations, campaigns, variants, surveys, invitations."""

    name = "campaigns"
    default_auto_field = "django.db.models.BigAutoField"
