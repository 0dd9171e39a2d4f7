from django.urls import re_path

from ingestion import apis

# With or without a trailing slash: SDKs differ, and a redirect would lose the POST body.
urlpatterns = [
    re_path(r"^track/?$", apis.TrackView.as_view(), name="api-track"),
    re_path(r"^identify/?$", apis.IdentifyView.as_view(), name="api-identify"),
    re_path(r"^page/?$", apis.PageView.as_view(), name="api-page"),
    re_path(r"^screen/?$", apis.ScreenView.as_view(), name="api-screen"),
    re_path(r"^group/?$", apis.GroupView.as_view(), name="api-group"),
    re_path(r"^alias/?$", apis.AliasView.as_view(), name="api-alias"),
    re_path(r"^batch/?$", apis.BatchView.as_view(), name="api-batch"),
]
