from django.urls import path

from dashboard.consumers import CampaignDashboardConsumer

websocket_urlpatterns = [
    path("ws/campaigns/<uuid:campaign_id>/", CampaignDashboardConsumer.as_asgi()),
]
