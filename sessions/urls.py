from django.urls import path

from sessions import views

app_name = "tester"
urlpatterns = [
    path("open/<str:token>/", views.open_link, name="open"),
    path("<str:token>/", views.start, name="start"),
    path("<str:token>/reconsider/", views.reconsider, name="reconsider"),
    path("<str:token>/screener/", views.screener, name="screener"),
    path("<str:token>/camera/", views.camera, name="camera"),
    path("<str:token>/watch/", views.watch, name="watch"),
    path("<str:token>/survey/", views.survey, name="survey"),
    path("<str:token>/done/", views.finish, name="finish"),
    path("<str:token>/withdraw/", views.withdraw, name="withdraw"),
    path("<str:token>/my-data.json", views.my_data, name="my_data"),
    path("<str:token>/media/<uuid:variant_id>/", views.variant_media, name="media"),
    path("<str:token>/poster/<uuid:variant_id>/", views.variant_poster, name="poster"),
]
