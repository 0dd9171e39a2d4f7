from django.urls import path

from campaigns import views

urlpatterns = [
    # Public: the link and the one-click List-Unsubscribe address of marketing emails.
    path("unsubscribe/<str:token>/", views.unsubscribe, name="campaign-unsubscribe"),
]
