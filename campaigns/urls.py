from django.urls import path

from campaigns import views

app_name = "campaigns"
campaign = "<uuid:campaign_id>/"
urlpatterns = [
    path("", views.campaign_list, name="list"),
    path("new/", views.campaign_create, name="create"),
    path(campaign, views.campaign_detail, name="detail"),
    path(campaign + "edit/", views.campaign_edit, name="edit"),
    path(campaign + "duplicate/", views.campaign_duplicate, name="duplicate"),
    path(campaign + "archive/", views.campaign_archive, name="archive"),
    path(campaign + "unarchive/", views.campaign_unarchive, name="unarchive"),
    path(campaign + "start/", views.campaign_start, name="start"),
    path(campaign + "close/", views.campaign_close, name="close"),
    path(campaign + "variants/new/", views.variant_add, name="variant_add"),
    path(campaign + "variants/<uuid:variant_id>/edit/", views.variant_edit, name="variant_edit"),
    path(campaign + "variants/<uuid:variant_id>/delete/", views.variant_delete, name="variant_delete"),
    path(campaign + "variants/<uuid:variant_id>/media/", views.variant_media, name="variant_media"),
    path(campaign + "variants/<uuid:variant_id>/poster/", views.variant_poster, name="variant_poster"),
    path(campaign + "questions/new/", views.question_add, name="question_add"),
    path(campaign + "questions/<int:question_id>/edit/", views.question_edit, name="question_edit"),
    path(campaign + "questions/<int:question_id>/delete/", views.question_delete, name="question_delete"),
    path(campaign + "screener/new/", views.screener_question_add, name="screener_question_add"),
    path(campaign + "screener/<int:question_id>/edit/", views.screener_question_edit, name="screener_question_edit"),
    path(
        campaign + "screener/<int:question_id>/delete/", views.screener_question_delete, name="screener_question_delete"
    ),
    path(campaign + "invitations/new/", views.invitations_add, name="invitations_add"),
    path(campaign + "invitations/<int:invitation_id>/resend/", views.invitation_resend, name="invitation_resend"),
    path(campaign + "invitations/<int:invitation_id>/revoke/", views.invitation_revoke, name="invitation_revoke"),
    path(campaign + "open-link/", views.open_link_create, name="open_link_create"),
    path(campaign + "open-link/disable/", views.open_link_disable, name="open_link_disable"),
]
