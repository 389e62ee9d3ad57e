from django.urls import path

from dashboard import api

app_name = "dashboard-api"
urlpatterns = [
    path("campaigns/<uuid:campaign_id>/dashboard/", api.DashboardDataApi.as_view(), name="data"),
    path(
        "campaigns/<uuid:campaign_id>/exports/<str:kind>.csv",
        api.DashboardExportApi.as_view(),
        name="export",
    ),
]
