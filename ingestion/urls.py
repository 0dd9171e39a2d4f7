from django.urls import path

from ingestion import views

urlpatterns = [
    path("", views.source_list, name="source-list"),
    path("new/", views.source_new, name="source-new"),
    path("<int:pk>/", views.source_detail, name="source-detail"),
    path("<int:pk>/keys/", views.source_key_create, name="source-key-create"),
    path("<int:pk>/keys/<int:key_pk>/revoke/", views.source_key_revoke, name="source-key-revoke"),
    path("<int:pk>/debugger/", views.source_debugger, name="source-debugger"),
]
