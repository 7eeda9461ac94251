from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import include, path

from webapp.accounts import views

urlpatterns = [
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("team/", views.team_detail, name="team_detail"),
    path("team/switch/", views.switch_team, name="switch_team"),
]
