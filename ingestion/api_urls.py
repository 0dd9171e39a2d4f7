from django.urls import path

from ingestion import apis

_ENDPOINTS = {
    "track": apis.TrackView,
    "identify": apis.IdentifyView,
    "page": apis.PageView,
    "screen": apis.ScreenView,
    "group": apis.GroupView,
    "alias": apis.AliasView,
    "batch": apis.BatchView,
}

# With and without a trailing slash: SDKs differ, and a redirect would lose the POST body.
# The OpenAPI schema lists the canonical form only (cdp_project.schema).
urlpatterns = [
    route
    for name, view in _ENDPOINTS.items()
    for route in (
        path(name, view.as_view(), name=f"api-{name}"),
        path(f"{name}/", view.as_view()),
    )
]
