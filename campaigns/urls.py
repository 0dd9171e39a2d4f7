from django.urls import include, path

from campaigns import journey_views, views
from campaigns.bounces import esp_tracking_urls

urlpatterns = [
    # The marketer's pages (campaigns/views.py)
    path("", views.campaign_list, name="campaigns"),
    path("<int:pk>/", views.campaign_detail, name="campaign-detail"),
    path("<int:pk>/edit/", views.campaign_edit, name="campaign-edit"),
    path("<int:pk>/status/", views.campaign_status, name="campaign-status"),
    path("<int:pk>/test-send/", views.campaign_test_send, name="campaign-test-send"),
    path("<int:pk>/dry-run/", views.campaign_dry_run, name="campaign-dry-run"),
    path("<int:pk>/enrollments/", views.campaign_enrollments, name="campaign-enrollments"),
    # The journey editor (campaigns/journey_views.py)
    path("journeys/new/", journey_views.journey_new, name="journey-new"),
    path("<int:pk>/journey/", journey_views.journey_editor, name="journey-editor"),
    path("<int:pk>/journey/trigger/", journey_views.journey_trigger, name="journey-trigger"),
    path("<int:pk>/journey/steps/add/", journey_views.journey_step_add, name="journey-step-add"),
    path("<int:pk>/journey/steps/<str:step>/", journey_views.journey_step, name="journey-step"),
    path(
        "<int:pk>/journey/steps/<str:step>/remove/",
        journey_views.journey_step_remove,
        name="journey-step-remove",
    ),
    path(
        "<int:pk>/journey/steps/<str:step>/move/",
        journey_views.journey_step_move,
        name="journey-step-move",
    ),
    path("<int:pk>/journey/settings/", journey_views.journey_settings, name="journey-settings"),
    path("<int:pk>/journey/publish/", journey_views.journey_publish_view, name="journey-publish"),
    path("<int:pk>/journey/move/", journey_views.journey_move_view, name="journey-move"),
    path("outbox/", views.outbox, name="campaign-outbox"),
    path("outbox/<int:pk>/", views.message_detail, name="campaign-message"),
    # Public: the link and the one-click List-Unsubscribe address of marketing emails.
    path("unsubscribe/<str:token>/", views.unsubscribe, name="campaign-unsubscribe"),
    # Public: the email provider's bounce and complaint reports (campaigns/bounces.py).
    path("esp/", include(esp_tracking_urls())),
]
