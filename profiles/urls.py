from django.urls import path

from profiles import data_views, views

urlpatterns = [
    path("", views.profile_list, name="profiles"),
    path("<int:pk>/", views.profile_detail, name="profile-detail"),
    path("<int:pk>/notes/", views.profile_note_add, name="profile-note-add"),
    path("<int:pk>/consent/", views.profile_consent_set, name="profile-consent-set"),
    # Imports and data rights (profiles/data_views.py)
    path("import/", data_views.profile_import, name="profile-import"),
    path("<int:pk>/export/", data_views.profile_export, name="profile-export"),
    path("<int:pk>/delete/", data_views.profile_delete, name="profile-delete"),
]
