from django.urls import path

from segments import builder_views, views

urlpatterns = [
    # The list, a segment's page, membership and its uses (segments/views.py)
    path("", views.segment_list, name="segments"),
    path("<int:pk>/", views.segment_detail, name="segment-detail"),
    path("<int:pk>/refresh/", views.segment_refresh, name="segment-refresh"),
    path("<int:pk>/export.csv", views.segment_export, name="segment-export"),
    path("<int:pk>/why/<int:profile_pk>/", views.segment_why, name="segment-why"),
    # The builder and the definition's life cycle (segments/builder_views.py)
    path("new/", builder_views.segment_new, name="segment-new"),
    path("<int:pk>/edit/", builder_views.segment_edit, name="segment-edit"),
    path("<int:pk>/duplicate/", builder_views.segment_duplicate, name="segment-duplicate"),
    path("<int:pk>/delete/", builder_views.segment_delete, name="segment-delete"),
    path("builder/", builder_views.segment_builder, name="segment-builder"),
    path("preview/", builder_views.segment_preview, name="segment-preview"),
    path("explain/", builder_views.segment_explain, name="segment-explain"),
]
