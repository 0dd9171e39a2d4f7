from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)

from cdp_project import health, views
from cdp_project.access.throttle import (
    ThrottledAdminAuthenticationForm,
    ThrottledAuthenticationForm,
)
from cdp_project.devtools import storefront
from ingestion import sdk_settings
from ingestion.tracker import tracker_script_view

# Both login forms count failures and lock a user name out from an address (access/throttle.py).
admin.site.login_form = ThrottledAdminAuthenticationForm
login_view = auth_views.LoginView.as_view(authentication_form=ThrottledAuthenticationForm)
# ReDoc renders its schema in a worker it starts from a blob: URL.
redoc_view = csp_update({"worker-src": ["blob:"]})(
    SpectacularRedocView.as_view(url_name="api-schema")
)

urlpatterns = [
    path("v1/", include("ingestion.api_urls")),
    path("cdp.js", tracker_script_view, name="tracker-script"),
    # What Segment's and RudderStack's own browser SDKs load from their CDN and config hosts.
    path("sourceConfig", sdk_settings.rudderstack_source_config),
    path("sourceConfig/", sdk_settings.rudderstack_source_config, name="rudderstack-config"),
    path(
        "analytics.js/v1/<str:write_key>/analytics.min.js",
        sdk_settings.segment_analytics_js,
        name="segment-analytics-js",
    ),
    path("analytics-next/bundles/<str:name>", sdk_settings.segment_analytics_chunk),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file: no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", redoc_view, name="api-redoc"),
    path("health/", health.health, name="health"),
    path("admin/", admin.site.urls),
    path("accounts/login/", login_view, name="login"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", views.dashboard, name="dashboard"),
    path("dashboard.csv", views.dashboard_csv, name="dashboard-csv"),
    path("analytics/", include("cdp_project.analytics.urls")),
    path("activities/", include("ingestion.catalog.urls")),
    path("profiles/", include("profiles.urls")),
    path("segments/", include("segments.urls")),
    path("campaigns/", include("campaigns.urls")),
    path("sources/", include("ingestion.urls")),
    path("shop/", storefront.shop_home, name="shop-home"),
    path("shop/cart/", storefront.shop_cart, name="shop-cart"),
    path("shop/checkout/", storefront.shop_checkout, name="shop-checkout"),
    path("shop/login/", storefront.shop_login, name="shop-login"),
    path("shop/products/<str:sku>/", storefront.shop_product, name="shop-product"),
    path("shop/<slug:slug>/", storefront.shop_category, name="shop-category"),
]
