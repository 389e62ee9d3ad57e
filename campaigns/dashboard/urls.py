from django.urls import path

from campaigns.dashboard import views

app_name = "dashboard"
urlpatterns = [
    path("<uuid:campaign_id>/dashboard/", views.campaign_dashboard, name="campaign"),
    path("models/<int:model_version_id>/card/", views.model_card, name="model-card"),
]
