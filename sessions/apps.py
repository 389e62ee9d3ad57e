from django.apps import AppConfig


class TesterSessionsConfig(AppConfig):
    """The tester's side: consent, viewing order, snapshot ingestion, survey answers.

    django.contrib.sessions owns the label "sessions", hence "tester_sessions".
    """

    name = "sessions"
    label = "tester_sessions"
    verbose_name = "Tester sessions"
    default_auto_field = "django.db.models.BigAutoField"
