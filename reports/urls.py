from django.urls import path

from reports import views

app_name = "reports"
urlpatterns = [
    path("<uuid:campaign_id>/report.html", views.campaign_report_html, name="html"),
    path("<uuid:campaign_id>/report.pdf", views.campaign_report_pdf, name="pdf"),
    path("<uuid:campaign_id>/report-links/", views.report_link_create, name="link-create"),
    path("<uuid:campaign_id>/report-links/<int:link_id>/revoke/", views.report_link_revoke, name="link-revoke"),
]
