from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """The campaign report to pass on: one self-contained page (and its PDF), downloaded by the
    researcher or read through an expiring, revocable share link."""

    name = "reports"
