from django.urls import path

from ingestion.catalog import views

urlpatterns = [
    path("", views.activity_list, name="activities"),
    path("<int:pk>/", views.activity_detail, name="activity-detail"),
    path("<int:pk>/properties/<int:property_pk>/", views.property_edit, name="property-edit"),
    path("attributes/", views.attribute_list, name="attribute-list"),
    path("attributes/<int:pk>/", views.attribute_edit, name="attribute-edit"),
    path("products/", views.product_list, name="product-list"),
]
