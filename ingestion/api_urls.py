from django.urls import path

from ingestion import apis

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

urlpatterns = [path(name, view.as_view(), name=f"api-{name}") for name, view in ENDPOINTS.items()]
# Aliases, left out of the OpenAPI schema (cdp_project.schema). The trailing-slash forms
# exist because SDKs differ, and a redirect would lose the POST body.
urlpatterns += [path(f"{name}/", view.as_view()) for name, view in ENDPOINTS.items()]
urlpatterns += [
    path(route, apis.BatchView.as_view())
    for alias in BATCH_ALIASES
    for route in (alias, f"{alias}/")
]
