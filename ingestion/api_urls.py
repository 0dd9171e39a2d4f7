from django.urls import path

from ingestion import apis, sdk_settings

ENDPOINTS = {
    "track": apis.TrackView,
    "identify": apis.IdentifyView,
    "page": apis.PageView,
    "screen": apis.ScreenView,
    "group": apis.GroupView,
    "alias": apis.AliasView,
    "batch": apis.BatchView,
}
# Segment's mobile SDKs post their batches elsewhere: analytics-kotlin and analytics-swift
# to /v1/b, the classic analytics-android and analytics-ios to /v1/import.
BATCH_ALIASES = ["b", "import"]
# analytics.js (Segment's browser SDK) posts each call to a one-letter path, the first letter
# of its type: /v1/t, /v1/p, /v1/i, /v1/g, /v1/a, /v1/s.
SHORT_ALIASES = {name[0]: name for name in ENDPOINTS if name != "batch"}

urlpatterns = [path(name, view.as_view(), name=f"api-{name}") for name, view in ENDPOINTS.items()]
# Aliases, left out of the OpenAPI schema (cdp_project.schema). The trailing-slash forms
# exist because SDKs differ, and a redirect would lose the POST body.
urlpatterns += [path(f"{name}/", view.as_view()) for name, view in ENDPOINTS.items()]
urlpatterns += [
    path(route, apis.BatchView.as_view())
    for alias in BATCH_ALIASES
    for route in (alias, f"{alias}/")
]
urlpatterns += [
    path(route, ENDPOINTS[name].as_view())
    for alias, name in SHORT_ALIASES.items()
    for route in (alias, f"{alias}/")
]
# Segment's settings, which analytics.js and the mobile SDKs fetch from their CDN host.
urlpatterns += [
    path(
        "projects/<str:write_key>/settings",
        sdk_settings.segment_settings,
        name="segment-settings",
    ),
]
