from django.urls import path

from dashboard import api

app_name = "dashboard-api"
urlpatterns = [
    path("campaigns/<uuid:campaign_id>/moments/", api.MomentsApi.as_view(), name="moments"),
    path("campaigns/<uuid:campaign_id>/markers/", api.MarkerCreateApi.as_view(), name="markers"),
    path("campaigns/<uuid:campaign_id>/markers/<int:marker_id>/", api.MarkerDeleteApi.as_view(), name="marker"),
    path("campaigns/<uuid:campaign_id>/dashboard/", api.DashboardDataApi.as_view(), name="data"),
    path(
        "campaigns/<uuid:campaign_id>/exports/<str:kind>.csv",
        api.DashboardExportApi.as_view(),
        name="export",
    ),
]
