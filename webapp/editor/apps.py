from __future__ import annotations

from django.apps import AppConfig


class EditorConfig(AppConfig):
    name = "webapp.editor"
    label = "editor"
