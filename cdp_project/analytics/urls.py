from django.urls import path

from cdp_project.analytics import views

urlpatterns = [
    path("funnel/", views.funnel_page, name="analytics-funnel"),
    path("funnel.csv", views.funnel_csv, name="analytics-funnel-csv"),
    path("funnel/save/", views.funnel_save_view, name="analytics-funnel-save"),
    path("retention/", views.retention_page, name="analytics-retention"),
    path("retention.csv", views.retention_csv, name="analytics-retention-csv"),
    path("rfm/", views.rfm_page, name="analytics-rfm"),
    path("rfm/segment/", views.rfm_segment_save, name="analytics-rfm-segment"),
    path("rfm.csv", views.rfm_csv, name="analytics-rfm-csv"),
]
