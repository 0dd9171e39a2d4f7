from django.urls import include, path

from campaigns import views
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
    path("outbox/", views.outbox, name="campaign-outbox"),
    path("outbox/<int:pk>/", views.message_detail, name="campaign-message"),
    # Public: the link and the one-click List-Unsubscribe address of marketing emails.
    path("unsubscribe/<str:token>/", views.unsubscribe, name="campaign-unsubscribe"),
    # Public: the email provider's bounce and complaint reports (campaigns/bounces.py).
    path("esp/", include(esp_tracking_urls())),
]
