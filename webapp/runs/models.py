"""Runs, their steps (one row per attempt), LLM calls and the append-only event log."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from webapp.accounts.models import Team
from webapp.workflows.models import Workflow, WorkflowVersion


class RunStatus(models.TextChoices):
    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


RUN_TERMINAL = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED})


class StepStatus(models.TextChoices):
    PENDING = "pending"  # a map item waiting for a concurrency slot
    QUEUED = "queued"
    RUNNING = "running"
    WAITING = "waiting"  # on a child run
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


STEP_ACTIVE = frozenset(
    {StepStatus.PENDING, StepStatus.QUEUED, StepStatus.RUNNING, StepStatus.WAITING}
)


class Run(models.Model):
    """One execution of a pinned workflow version.

    Totals: steps (rows), tokens_in/out (tokens), cost_usd (USD, priced calls only;
    unpriced_calls counts calls with no known price). event_seq: the last RunEvent
    seq, advanced with the row locked so seqs are gap-free. max_steps bounds the
    step rows; deadline_at fails the run when passed.
    """

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="runs")
    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="runs")
    # RESTRICT: a version cannot go while runs pin it, unless they go with it
    # (deleting the workflow deletes its runs too).
    version = models.ForeignKey(WorkflowVersion, on_delete=models.RESTRICT, related_name="runs")
    parent_run = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="child_runs"
    )
    parent_step = models.ForeignKey(
        "Step", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    inputs = models.JSONField(default=dict)
    outputs = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    deadline_at = models.DateTimeField(null=True, blank=True)
    max_steps = models.PositiveIntegerField(default=100_000)
    cancel_requested = models.BooleanField(default=False)
    event_seq = models.PositiveBigIntegerField(default=0)
    step_count = models.PositiveIntegerField(default=0)
    tokens_in = models.PositiveBigIntegerField(default=0)
    tokens_out = models.PositiveBigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=6, default=0)
    unpriced_calls = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["team", "-created_at"], name="run_team_created"),
            models.Index(fields=["team", "status", "-created_at"], name="run_team_status"),
            models.Index(fields=["workflow", "-created_at"], name="run_workflow_created"),
        ]

    def __str__(self) -> str:
        return f"Run {self.pk} of {self.workflow_id} ({self.status})"


class Step(models.Model):
    """One attempt at one node instance (node id, iteration, map item).

    A retry is a new row with attempt + 1; the old row is marked superseded.
    Lease: a running attempt holds lease_token until lease_expires_at, renewed by
    its worker; the reaper re-queues attempts whose lease expired. Times in ms;
    cost in USD; tokens in tokens. Inputs/outputs live in StepPayload so this hot
    row stays small.
    """

    # (db_index=False: step_team_finished and step_run_latest lead with these;
    # a step row's every index costs each hop's insert, B1 in docs/benchmarks.md)
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+", db_index=False)
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps", db_index=False)
    node_id = models.CharField(max_length=100)
    node_type = models.CharField(max_length=50)
    iteration = models.PositiveIntegerField(default=0)
    item = models.PositiveIntegerField(null=True, blank=True)
    attempt = models.PositiveIntegerField(default=1)
    superseded = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=StepStatus.choices)
    queue = models.CharField(max_length=16, default="cpu")
    queued_at = models.DateTimeField(null=True, blank=True)
    not_before = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    queue_wait_ms = models.FloatField(null=True, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    ttft_ms = models.FloatField(null=True, blank=True)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    provider = models.CharField(max_length=100, blank=True)
    model = models.CharField(max_length=200, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    lease_token = models.UUIDField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    child_run = models.ForeignKey(
        Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["run", "superseded", "item"], name="step_run_latest"),
            models.Index(fields=["run", "node_id", "iteration", "item"], name="step_instance"),
            models.Index(fields=["status", "lease_expires_at"], name="step_status_lease"),
            models.Index(fields=["team", "finished_at"], name="step_team_finished"),
        ]

    def __str__(self) -> str:
        return f"Step {self.node_id}#{self.iteration}/{self.item} a{self.attempt} ({self.status})"


class StepPayload(models.Model):
    """The bulky part of a step: inputs, upstream values, outputs, final text, logs."""

    step = models.OneToOneField(
        Step, on_delete=models.CASCADE, primary_key=True, related_name="payload"
    )
    inputs = models.JSONField(default=dict)
    upstream = models.JSONField(default=list)
    outputs = models.JSONField(null=True, blank=True)
    text = models.TextField(blank=True)
    logs = models.JSONField(default=list)

    def __str__(self) -> str:
        return f"Payload of step {self.step_id}"


class LLMCallRecord(models.Model):
    """One LLM call made by a step: tokens, cost (USD; null = unpriced), ttft and
    latency (ms), provider retries, and whether the provider was simulated."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="llm_calls")
    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="llm_calls")
    provider = models.CharField(max_length=100)
    model = models.CharField(max_length=200)
    tokens_in = models.PositiveIntegerField(default=0)
    tokens_out = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    ttft_ms = models.FloatField(null=True, blank=True)
    latency_ms = models.FloatField(default=0)
    retries = models.PositiveIntegerField(default=0)
    simulated = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["team", "created_at"], name="llmcall_team_created")]

    def __str__(self) -> str:
        return f"{self.provider}/{self.model} call of step {self.step_id}"


class RunEvent(models.Model):
    """Append-only run history: per-run gap-free seq, type (orchestration.events),
    JSON payload, timestamp."""

    # (db_index=False: the unique (run, seq) index serves every lookup by run)
    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="events", db_index=False)
    seq = models.PositiveBigIntegerField()
    type = models.CharField(max_length=32)
    payload = models.JSONField(default=dict)
    ts = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "seq"], name="runevent_run_seq_unique")
        ]
        ordering = ["run", "seq"]

    def __str__(self) -> str:
        return f"Run {self.run_id} #{self.seq} {self.type}"


class TeamQuota(models.Model):
    """A team's limits (webapp/runs/quotas.py): at most `max_concurrent_runs`
    top-level runs running at once (0 = no limit; extra runs wait queued, in
    order), and an optional monthly cost budget (USD; warning at 80 %, new runs
    refused and LLM steps stopped at 100 %). `spent_usd` is what the team's
    priced LLM calls cost in the calendar month (UTC) starting `spent_month`."""

    team = models.OneToOneField(Team, on_delete=models.CASCADE, related_name="quota")
    max_concurrent_runs = models.PositiveIntegerField(default=20)
    monthly_budget_usd = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    spent_month = models.DateField(null=True, blank=True)
    spent_usd = models.DecimalField(max_digits=14, decimal_places=6, default=0)

    def __str__(self) -> str:
        return f"Quota of team {self.team_id}"
