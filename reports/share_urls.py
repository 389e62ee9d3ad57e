"""The share links' pages: no login, the token is the key."""

from django.urls import path

from reports import views

app_name = "report-share"
urlpatterns = [
    path("<str:token>/", views.shared_report, name="html"),
    path("<str:token>/report.pdf", views.shared_report_pdf, name="pdf"),
]
