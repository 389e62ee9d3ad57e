from django.urls import path

from dashboard import views

app_name = "dashboard"
urlpatterns = [
    path("<uuid:campaign_id>/dashboard/", views.campaign_dashboard, name="campaign"),
    path("<uuid:campaign_id>/testers/<uuid:tester_id>/data.json", views.tester_data, name="tester_data"),
    path("models/<int:model_version_id>/card/", views.model_card, name="model-card"),
]
