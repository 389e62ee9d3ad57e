from django.apps import AppConfig


class DashboardConfig(AppConfig):
    """The researcher's reading of a campaign: figures, verdicts, live updates, exports."""

    name = "dashboard"
