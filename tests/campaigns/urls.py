"""The project's addresses plus the campaigns' public ones (until the root includes them)."""

from django.urls import include, path

from cdp_project.urls import urlpatterns as project_urlpatterns

urlpatterns = [*project_urlpatterns, path("campaigns/", include("campaigns.urls"))]
