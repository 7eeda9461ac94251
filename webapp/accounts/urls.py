from __future__ import annotations

from django.urls import include, path

from webapp.accounts import views, views_tokens
from webapp.security import ThrottledLoginView

urlpatterns = [
    path(
        "accounts/login/",
        ThrottledLoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("team/", views.team_detail, name="team_detail"),
    path("team/switch/", views.switch_team, name="switch_team"),
    path("team/new/", views.team_create, name="team_create"),
    path("team/delete/", views.team_delete, name="team_delete"),
    path("team/leave/", views.team_leave, name="team_leave"),
    path("team/transfer/", views.team_transfer, name="team_transfer"),
    path("team/invites/", views.invite_create, name="invite_create"),
    path("team/invites/<int:invite_id>/revoke/", views.invite_revoke, name="invite_revoke"),
    path("team/members/<int:membership_id>/role/", views.member_role, name="member_role"),
    path("team/members/<int:membership_id>/remove/", views.member_remove, name="member_remove"),
    path("team/tokens/", views_tokens.tokens, name="tokens"),
    path("team/tokens/<int:token_id>/revoke/", views_tokens.token_revoke, name="token_revoke"),
    path("invites/<str:secret>/", views.invite_accept, name="invite_accept"),
]
