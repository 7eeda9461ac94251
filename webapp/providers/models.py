"""A team's LLM providers: endpoint, models, encrypted credential, price overrides."""

from __future__ import annotations

from django.db import models

from webapp.accounts.models import Team


class ProviderKind(models.TextChoices):
    OPENAI = "openai", "OpenAI-compatible"
    ANTHROPIC = "anthropic", "Anthropic"


class ProviderSetting(models.Model):
    """One provider of a team (e.g. "Simulator", "OpenAI", "Local vLLM").

    api_key_encrypted: Fernet token (webapp/crypto.py), never shown again after
    saving. price_overrides: {model: {"input_per_mtok": "0.15",
    "output_per_mtok": "0.60"}} in USD per million tokens. model_names: the model
    names offered in the editor.
    """

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="providers")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=ProviderKind.choices)
    base_url = models.URLField(blank=True, max_length=500)
    api_key_encrypted = models.TextField(blank=True)
    model_names = models.JSONField(default=list, blank=True)
    pricing_provider_id = models.CharField(max_length=50, blank=True)
    price_overrides = models.JSONField(default=dict, blank=True)
    max_concurrency = models.PositiveIntegerField(default=16)
    timeout_s = models.FloatField(default=120.0)
    max_retries = models.PositiveIntegerField(default=3)
    simulated = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["team", "name"], name="provider_team_name_unique")
        ]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
