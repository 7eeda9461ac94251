"""The hourly rollup of finished steps that the dashboards read (see rollup.py)."""

from __future__ import annotations

from django.db import models

from webapp.accounts.models import Team
from webapp.workflows.models import Workflow


class StepRollup(models.Model):
    """Finished step attempts of one team in one hour, per (workflow, node id,
    node type, provider, model): counts, latency (ms: sum and max), tokens and
    cost (USD, priced steps only)."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField()  # the hour's start (UTC) of the steps' finished_at
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="+")
    node_id = models.CharField(max_length=100)
    node_type = models.CharField(max_length=50)
    provider = models.CharField(max_length=100, blank=True)
    model = models.CharField(max_length=200, blank=True)
    steps = models.PositiveIntegerField()
    timed = models.PositiveIntegerField()  # steps with a latency
    latency_sum_ms = models.FloatField()
    latency_max_ms = models.FloatField(null=True)
    tokens_in = models.BigIntegerField()
    tokens_out = models.BigIntegerField()
    priced = models.PositiveIntegerField()  # steps with a cost
    cost_usd = models.DecimalField(max_digits=18, decimal_places=6, null=True)

    class Meta:
        indexes = [models.Index(fields=["team", "hour"], name="steprollup_team_hour")]

    def __str__(self) -> str:
        return f"{self.node_id} @ {self.hour:%Y-%m-%d %H}:00 ({self.steps} steps)"


class LatencyRollup(models.Model):
    """Latency histogram of one team's finished steps of one node type in one hour:
    {bucket index: steps}, log buckets of ratio 1.1 (see rollup.bucket_of), so a
    percentile read from it is within about 5 % of the exact one."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField()
    node_type = models.CharField(max_length=50)
    histogram = models.JSONField(default=dict)

    class Meta:
        indexes = [models.Index(fields=["team", "hour"], name="latencyrollup_team_hour")]

    def __str__(self) -> str:
        return f"{self.node_type} latency @ {self.hour:%Y-%m-%d %H}:00"


class RollupState(models.Model):
    """How far a team's steps are rolled up: every hour before `rolled_until`."""

    team = models.OneToOneField(Team, on_delete=models.CASCADE, primary_key=True, related_name="+")
    rolled_until = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"Rollup of team {self.team_id} until {self.rolled_until}"
