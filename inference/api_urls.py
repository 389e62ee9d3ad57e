from django.urls import path

from inference import api

app_name = "inference-api"
urlpatterns = [
    path("t/<str:token>/camera-check/", api.CameraCheckApi.as_view(), name="camera-check"),
]
