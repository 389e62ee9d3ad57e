from django.urls import path

from sessions import api

app_name = "tester-api"
urlpatterns = [
    path("t/frames/", api.FrameUploadByHeaderApi.as_view(), name="frames-by-header"),
    path("t/<str:token>/frames/", api.FrameUploadApi.as_view(), name="frames"),
    path("t/<str:token>/baseline/", api.BaselineUploadApi.as_view(), name="baseline"),
]
