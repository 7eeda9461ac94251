"""Executing one step attempt on a worker: claim, run, record.

1. claim: with the run and step rows locked, a `queued` step becomes `running`
   with a fresh lease token (a duplicate or late delivery finds it not queued
   and does nothing).
2. run: the node runs in an event loop, with its timeout, watched by the
   process's supervisor (supervisor.py), which renews the lease every third of
   STEP_LEASE_S and cancels the node's task, aborting in-flight LLM calls, when
   the run is cancelled (a Redis flag, polled every 0.25 s), the team's budget
   is spent, or the lease is lost.
   Map items are claimed and recorded in batches (groupcommit.py).
3. record: with the run and step rows locked again, and only if the step still
   holds the same lease token (fencing), the outcome is stored, the run is
   advanced by the planner, and new steps are enqueued after commit. The
   common outcome (a step that succeeded with no LLM calls, in a run this
   thread recorded last) is first tried as one statement (express.py).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F
from django.utils import timezone

from orchestration.context import make_key
from orchestration.events import EventType
from orchestration.graph import Graph
from orchestration.nodes import get_node_type
from orchestration.nodes.base import NodeConfig, NodeError, NodeType, Upstream, WaitForChild
from orchestration.providers.base import LLMCall
from webapp.providers.services import team_provider_configs
from webapp.runs import bulk, express, groupcommit, quotas, runner
from webapp.runs.context import WorkerContext
from webapp.runs.engine import (
    RunNext,
    StateRows,
    _ids,
    advance,
    current_state,
    graph_of,
    keep_state,
    kept_state,
    lease_fields,
    metrics,
    send_step,
)
from webapp.runs.events import append_event, batched
from webapp.runs.models import (
    RUN_TERMINAL,
    LLMCallRecord,
    Run,
    RunStatus,
    Step,
    StepPayload,
    StepStatus,
)
from webapp.runs.perprocess import redis_client
from webapp.runs.supervisor import Watched, cancel_key, supervisor

log = logging.getLogger(__name__)


def flag_cancelled(run_id: int) -> None:
    """Tell the workers running steps of `run_id` to interrupt them (kept a day)."""
    redis_client().set(cancel_key(run_id), "1", ex=24 * 3600)


@dataclass
class Attempt:
    """What the worker needs to run a claimed step, loaded in the claim transaction."""

    step_id: int
    run_id: int
    team_id: int
    queue: str
    token: uuid.UUID
    node_type: type[NodeType]
    config: NodeConfig
    inputs: dict[str, Any]
    context: WorkerContext
    started_at: datetime | None = None  # the step row's
    queue_wait_ms: float | None = None  # the step row's
    leased_at: float = field(default_factory=time.monotonic)  # when the lease was taken
    prepared: bool = False  # provider configs and the budget flag already loaded
    budget_exhausted: str | None = None  # (when prepared) the team's budget message


@dataclass
class StepOutcome:
    status: str  # succeeded | failed | waiting | cancelled | lost
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    retryable: bool = False
    child_run_id: int | None = None


def execute(step_id: int, worker: str) -> None:
    """Run one delivery of the task for `step_id` (see the module docstring).

    Run-next: when recording a step makes new steps ready, the first of them on
    this delivery's queue is created already running under this worker's lease,
    in the record's transaction, and this delivery runs it next without a broker
    round trip; the other ready steps go to the broker as usual, so branches
    still spread over all workers. At most RUNNEXT_MAX steps per delivery. If
    this worker dies, that step's lease expires and the reaper re-queues it, as
    for any running step. The database connection goes back to the pool before
    a node that may wait on the network (not on the cpu queue) runs.
    (Map items come in chunks: execute_items.)"""
    try:
        attempt = claim(step_id, worker)
        hops = 0
        while attempt is not None:
            exhausted = attempt.budget_exhausted
            if attempt.node_type.uses_providers and not attempt.prepared:
                attempt.context.provider_configs = team_provider_configs(attempt.team_id)
                exhausted = quotas.budget_exhausted(attempt.team_id)
            if attempt.queue != "cpu":
                connection.close()  # back to the pool: the node may wait long on the network
            if exhausted:  # the team's budget is spent: an LLM step does not start
                outcome = StepOutcome("failed", error=exhausted, retryable=False)
            else:
                # io steps: on the process's shared event loop (runner.py)
                outcome = runner.run(run_attempt(attempt), shared=attempt.queue != "cpu")
            hops += 1
            runnext = RunNext(attempt.queue, worker) if hops < settings.RUNNEXT_MAX else None
            attempt = record(attempt, outcome, runnext)
    finally:
        connection.close()


def node_for(graph: Graph, node_id: str, item: bool) -> tuple[type[NodeType], NodeConfig]:
    """The node type and parsed config a step of `node_id` executes (a map
    `item` runs the body), parsed once per graph and node (graphs are
    immutable, configs are read only)."""
    key = (id(graph), node_id, item)
    found = _nodes.get(key)
    if found is None or found[0] is not graph:
        if len(_nodes) > 4096:
            _nodes.clear()
        found = _nodes[key] = (graph, *_node_for(graph, node_id, item))
    return found[1], found[2]


_nodes: dict[tuple[int, str, bool], tuple[Graph, type[NodeType], NodeConfig]] = {}


def _node_for(graph: Graph, node_id: str, item: bool) -> tuple[type[NodeType], NodeConfig]:
    node = graph.node(node_id)
    if item:
        body = node.config.get("body") or {}
        node_type = get_node_type(str(body.get("type")))
        return node_type, node_type.parse_config(dict(body.get("config") or {}))
    node_type = get_node_type(node.type)
    return node_type, node_type.parse_config(node.config)


def claim(step_id: int, worker: str) -> Attempt | None:
    """Lock the step's run, then the step; start it if it is still queued.
    Returns None for a duplicate or stale delivery, or a run that has ended."""
    with transaction.atomic():
        run = (
            Run.objects.select_for_update(of=("self",)).filter(steps__pk=step_id).order_by().first()
        )
        if run is None:
            return None
        step = (
            Step.objects.select_for_update(of=("self",)).select_related("payload").get(pk=step_id)
        )
        if step.status != StepStatus.QUEUED:
            return None  # a duplicate or stale delivery
        if run.status in RUN_TERMINAL or run.cancel_requested:
            step.status = StepStatus.CANCELLED
            step.finished_at = timezone.now()
            step.save(update_fields=["status", "finished_at"])
            return None
        return start_attempt(run, step, worker)


def start_attempt(run: Run, step: Step, worker: str, *, started: bool = False) -> Attempt:
    """Mark a queued `step` (locked, as is its run) running under a new lease,
    append step.started, and return what the worker needs to run it. With
    `started`, the row was created running already (engine.lease_fields)."""
    if not started:
        step.save(update_fields=_lease(step, worker))
    return attempt_for(run, step, worker)


def _lease(step: Step, worker: str) -> list[str]:
    """Set a queued step's fields to running under a new lease (not saved);
    returns the names of the fields set."""
    fields = lease_fields(worker) | {"status": StepStatus.RUNNING}
    for name, value in fields.items():
        setattr(step, name, value)
    if step.queued_at:
        step.queue_wait_ms = (fields["started_at"] - step.queued_at).total_seconds() * 1000
    return list(fields)


def attempt_for(run: Run, step: Step, worker: str) -> Attempt:
    """Append step.started for a step now running under its lease (run locked)
    and return the Attempt the worker runs."""
    assert step.lease_token is not None
    append_event(run, EventType.STEP_STARTED, _ids(step) | {"worker": worker})
    return new_attempt(
        run,
        step.pk,
        step.node_id,
        step.iteration,
        step.item,
        step.attempt,
        step.queue,
        step.lease_token,
        step.payload.inputs,
        step.payload.upstream,
        step.started_at,
        step.queue_wait_ms,
    )


def new_attempt(
    run: Run,
    step_id: int,
    node_id: str,
    iteration: int,
    item: int | None,
    attempt: int,
    queue: str,
    token: uuid.UUID,
    inputs: dict[str, Any],
    upstream: list[dict[str, Any]],
    started_at: datetime | None,
    queue_wait_ms: float | None,
) -> Attempt:
    """The Attempt of a step of `run` now running under lease `token`
    (`started_at`, `queue_wait_ms`: its row's)."""
    node_type, config = node_for(graph_of(run), node_id, item is not None)
    run_id = run.pk
    context = WorkerContext(
        run_id=str(run_id),
        node_id=node_id,
        iteration=iteration,
        item=item,
        attempt=attempt,
        idempotency_key=make_key(str(run_id), node_id, iteration, item),
        run_inputs=run.inputs,
        upstream=[Upstream(**u) for u in upstream],
        deadline=run.deadline_at.timestamp() if run.deadline_at else None,
        step_id=step_id,
        team_id=run.team_id,
        provider_configs={},  # loaded outside the transaction by `execute`
        start_child=lambda wf, ver, inp: start_child(run_id, step_id, wf, ver, inp),
    )
    return Attempt(
        step_id,
        run_id,
        run.team_id,
        queue,
        token,
        node_type,
        config,
        dict(inputs),
        context,
        started_at,
        queue_wait_ms,
    )


def execute_items(step_ids: list[int], worker: str) -> None:
    """Run one delivery of a chunk of map items (engine.send_items): claim them
    together, run them concurrently (on the process's shared loop for io), and
    record each as it ends, through the group committer. The message is
    acknowledged when all are recorded; if the worker dies first, it is
    delivered again, and the items already recorded or running are skipped
    (their claims find them no longer queued; a running one's lease expires
    and the reaper re-queues it alone)."""
    try:
        committer = _committer()
        futures = [committer.enqueue("claim", step_id, worker) for step_id in step_ids]
        attempts = [a for a in (f.result() for f in futures) if a is not None]
        if attempts:
            runner.run(_run_items(attempts), shared=attempts[0].queue != "cpu")
    finally:
        connection.close()


async def _run_items(attempts: list[Attempt]) -> None:
    await asyncio.gather(*(_run_item(attempt) for attempt in attempts))


async def _run_item(attempt: Attempt) -> None:
    if attempt.budget_exhausted:  # the team's budget is spent: an LLM step does not start
        outcome = StepOutcome("failed", error=attempt.budget_exhausted, retryable=False)
    else:
        outcome = await run_attempt(attempt)
    record = _committer().enqueue("record", attempt.step_id, attempt, outcome)
    await asyncio.wrap_future(record)


def _committer() -> groupcommit.Committer:
    return groupcommit.committer(claim_items, record_items)


def claim_items(requests: list[tuple[int, str]]) -> dict[int, Attempt | None]:
    """Claim many queued steps ((step id, worker) pairs): one transaction per
    run, its row locked once, its steps with one statement and updated with one.
    Returns {step id: Attempt, or None for a duplicate or stale delivery or an
    ended run}. The attempts come prepared: provider configs and the budget
    flag loaded once per team."""
    workers = dict(requests)
    runs = Step.objects.filter(pk__in=list(workers)).values_list("run_id", "pk")
    claimed: dict[int, Attempt | None] = {}
    for run_id, step_ids in groupcommit.by_run(list(runs)).items():
        claimed |= _claim_run_items(run_id, step_ids, workers)
    teams = {a.team_id for a in claimed.values() if a and a.node_type.uses_providers}
    configs = {team: team_provider_configs(team) for team in teams}
    budgets = {team: quotas.budget_exhausted(team) for team in teams}
    for attempt in filter(None, claimed.values()):
        attempt.prepared = True
        if attempt.team_id in configs:
            attempt.context.provider_configs = configs[attempt.team_id]
            attempt.budget_exhausted = budgets[attempt.team_id]
    return claimed


def _claim_run_items(
    run_id: int, step_ids: list[int], workers: dict[int, str]
) -> dict[int, Attempt | None]:
    with transaction.atomic():
        run = Run.objects.select_for_update(of=("self",)).filter(pk=run_id).first()
        if run is None:
            return {}
        steps = list(
            Step.objects.select_for_update(of=("self",))
            .select_related("payload")
            .filter(pk__in=step_ids, status=StepStatus.QUEUED)
            .order_by("pk")
        )
        if not steps:
            return {}
        if run.status in RUN_TERMINAL or run.cancel_requested:
            Step.objects.filter(pk__in=[s.pk for s in steps]).update(
                status=StepStatus.CANCELLED, finished_at=timezone.now()
            )
            return {}
        fields: list[str] = []
        for step in steps:
            fields = _lease(step, workers[step.pk])
        bulk.update_rows(Step, steps, fields)
        with batched(run):
            return {step.pk: attempt_for(run, step, workers[step.pk]) for step in steps}


async def run_attempt(attempt: Attempt) -> StepOutcome:
    """Run the node with its timeout, watched by the process's supervisor
    (cancellation, budget, lease renewal: supervisor.py)."""
    node = attempt.node_type(attempt.config)
    task = asyncio.create_task(node.run(attempt.context, attempt.inputs))
    watched = Watched(
        attempt.step_id,
        attempt.run_id,
        attempt.team_id,
        attempt.token,
        attempt.node_type.uses_providers,
        asyncio.get_running_loop(),
        task,
        renewed_at=attempt.leased_at,  # the first tick renews a lease taken long ago
    )
    watcher = supervisor()
    watcher.watch(watched)
    try:
        outputs = await asyncio.wait_for(task, attempt.config.timeout_s)
        return StepOutcome("succeeded", outputs=outputs)
    except TimeoutError:
        return StepOutcome(
            "failed", error=f"timed out after {attempt.config.timeout_s:g} s", retryable=True
        )
    except asyncio.CancelledError:
        reason = watched.reason or "cancelled"
        if reason.startswith("budget exhausted"):
            return StepOutcome("failed", error=reason, retryable=False)
        return StepOutcome(reason, error="cancelled")  # "cancelled" or "lost"
    except WaitForChild as wait:
        return StepOutcome("waiting", child_run_id=int(wait.child_run_id))
    except NodeError as exc:
        return StepOutcome("failed", error=str(exc), retryable=exc.retryable)
    except Exception as exc:  # a bug in a node type: record it, let the policy retry
        log.exception("step %s raised", attempt.step_id)
        return StepOutcome("failed", error=f"{type(exc).__name__}: {exc}", retryable=True)
    finally:
        watcher.unwatch(watched)
        attempt.context.finish_tokens()


def record(
    attempt: Attempt, outcome: StepOutcome, runnext: RunNext | None = None
) -> Attempt | None:
    """Store the outcome if this attempt still holds its lease (fencing), and
    advance the run. Returns the step claimed for `runnext`, if any.
    The express path (express.py) records the common outcome in one
    statement when it can; else this transaction does."""
    kept = kept_state(attempt.run_id)
    if kept is not None and _expressible(attempt, outcome):
        done = express.record(kept, attempt, outcome.outputs, runnext)
        if done is not None:
            return None if done.next is None else _started(kept.run, done.next)
    with transaction.atomic():
        run = bulk.lock(Run, attempt.run_id)  # lock order: run, then step
        step = bulk.lock(Step, attempt.step_id)
        if step.status != StepStatus.RUNNING or step.lease_token != attempt.token:
            log.info("step %s: outcome of a lost lease discarded", step.pk)
            return None
        # The state this thread's last record of the run left, if nobody changed
        # the run since (else None: the planner reads it).
        state = current_state(run, kept)
        with batched(run):  # this transaction's events in one statement
            claimed, rows = _record(run, step, attempt, outcome, runnext, state)
        if rows is not None:  # (now that the events are written: run.event_seq)
            keep_state(run, rows)
        return claimed


def _expressible(attempt: Attempt, outcome: StepOutcome) -> bool:
    """Whether express.record covers this outcome (outside a transaction: its
    statement is one of its own)."""
    return (
        outcome.status == "succeeded"
        and attempt.context.item is None
        and not attempt.context.llm_calls
        and settings.RECORD_EXPRESS
        and not connection.in_atomic_block
    )


def _started(run: Run, step: express.NextStep) -> Attempt:
    """The Attempt of the step an express record started for run-next."""
    return new_attempt(
        run,
        step.step_id,
        step.node_id,
        step.iteration,
        None,
        1,
        step.queue,
        step.token,
        step.inputs,
        step.upstream,
        step.started_at,
        0.0,
    )


def record_items(entries: list[tuple[int, Attempt, StepOutcome]]) -> None:
    """`record` for many map items ((step id, attempt, outcome)): one
    transaction per run, its row locked once, the planner run at most once."""
    pairs = [(attempt.run_id, (attempt, outcome)) for _, attempt, outcome in entries]
    for run_id, group in groupcommit.by_run(pairs).items():
        _record_run_items(run_id, group)


def _record_run_items(run_id: int, group: list[tuple[Attempt, StepOutcome]]) -> None:
    with transaction.atomic():
        run = bulk.lock(Run, run_id)
        ids = [attempt.step_id for attempt, _ in group]
        locked = Step.objects.select_for_update().filter(pk__in=ids).order_by("pk")
        steps = {step.pk: step for step in locked}
        with batched(run):
            ledger = Ledger(run)
            plan, items_done = False, {}
            for attempt, outcome in group:
                step = steps.get(attempt.step_id)
                if step is None or step.status != StepStatus.RUNNING:
                    continue
                if step.lease_token != attempt.token:
                    log.info("step %s: outcome of a lost lease discarded", step.pk)
                    continue
                need = _store(run, step, attempt, outcome, ledger)
                plan = plan or need == _PLAN
                if need == _ITEM_DONE:
                    items_done[(step.node_id, step.iteration)] = step
            ledger.flush()
            if not plan:
                plan = any(_map_needs_planning(run, step) for step in items_done.values())
            if plan:
                advance(run)


_NOTHING, _ITEM_DONE, _PLAN = 0, 1, 2  # what planning a stored outcome needs


def _record(
    run: Run,
    step: Step,
    attempt: Attempt,
    outcome: StepOutcome,
    runnext: RunNext | None,
    state: StateRows | None,
) -> tuple[Attempt | None, StateRows | None]:
    """Store and plan; returns the step claimed for `runnext` (if any) and the
    run's state rows as this transaction leaves them (advance), or None."""
    ledger = Ledger(run)
    need = _store(run, step, attempt, outcome, ledger)
    ledger.flush()
    if need == _NOTHING or (need == _ITEM_DONE and not _map_needs_planning(run, step)):
        return None, None  # (a map item: other items still run and none waits for a slot)
    # The kept state, with this outcome (a map item is not among those rows;
    # its map's progress is read after the flush above).
    rows = advance(run, runnext, state, recorded=(step, outcome.outputs))
    if runnext is None or runnext.step is None or run.status in RUN_TERMINAL:
        return None, rows  # (a run that ended in this plan cancelled the step)
    # Nobody else knows the step yet (it was never sent) and the run is locked.
    return start_attempt(run, runnext.step, runnext.worker, started=True), rows


def _store(run: Run, step: Step, attempt: Attempt, outcome: StepOutcome, ledger: Ledger) -> int:
    """Store one attempt's outcome (run and step locked, lease checked). Returns
    _PLAN when the run must be advanced, _ITEM_DONE for a map item that
    succeeded (advance only if _map_needs_planning), else _NOTHING."""
    ledger.add(step, attempt.context.llm_calls)
    now = timezone.now()
    step.finished_at = now
    step.latency_ms = (now - step.started_at).total_seconds() * 1000 if step.started_at else None
    step.lease_token = None
    payload: dict[str, Any] = {
        "text": "".join(attempt.context.text_parts),
        "logs": attempt.context.logs,
    }
    if outcome.status == "cancelled" and run.status not in RUN_TERMINAL:
        # interrupted though the run goes on: let the retry policy decide
        outcome = StepOutcome("failed", error="interrupted", retryable=True)
    if run.status in RUN_TERMINAL or outcome.status == "lost":
        step.status = StepStatus.CANCELLED
        step.error = outcome.error or "cancelled"
        ledger.save(step, payload)
        append_event(run, EventType.STEP_CANCELLED, _ids(step))
        return _NOTHING
    if outcome.status == "waiting":
        step.status = StepStatus.WAITING
        step.child_run_id = outcome.child_run_id
        step.finished_at = None
        ledger.save(step, payload)
        return _NOTHING
    if outcome.status == "succeeded":
        step.status = StepStatus.SUCCEEDED
        payload["outputs"] = outcome.outputs
        ledger.save(step, payload)
        append_event(run, EventType.STEP_SUCCEEDED, _ids(step) | metrics(step))
        return _ITEM_DONE if step.item is not None else _PLAN
    step.error = outcome.error
    if outcome.retryable and step.attempt < attempt.config.max_attempts:
        ledger.save(step, payload)
        retry(run, step, attempt.config, outcome.error)
        return _NOTHING
    step.status = StepStatus.FAILED
    ledger.save(step, payload)
    append_event(
        run, EventType.STEP_FAILED, _ids(step) | {"error": step.error, "will_retry": False}
    )
    return _PLAN


def _map_needs_planning(run: Run, item: Step) -> bool:
    """Whether a finished map item changes anything the planner decides: a
    pending item may take its slot, or it was the last active one. Skipping the
    planner otherwise keeps a large map's per-item cost constant. One query."""
    items = Step.objects.filter(
        run=run,
        node_id=item.node_id,
        iteration=item.iteration,
        item__isnull=False,
        superseded=False,
    )
    active = [StepStatus.QUEUED, StepStatus.RUNNING, StepStatus.WAITING]
    found = (
        Run.objects.filter(pk=run.pk)
        .order_by()
        .values(
            pending=Exists(items.filter(status=StepStatus.PENDING)),
            active=Exists(items.filter(status__in=active)),
        )
        .get()
    )
    return bool(found["pending"]) or not found["active"]


def retry(run: Run, step: Step, config: NodeConfig, error: str) -> Step:
    """Mark `step` failed and superseded, and queue attempt + 1 after a backoff
    with full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter")."""
    step.status = StepStatus.FAILED
    step.superseded = True
    step.finished_at = step.finished_at or timezone.now()
    step.lease_token = None
    step.save()
    cap = min(config.retry_backoff_max_s, config.retry_backoff_s * 2 ** (step.attempt - 1))
    delay = random.uniform(0, cap)  # noqa: S311 (jitter, not security)
    payload = StepPayload.objects.get(step=step)
    now = timezone.now()
    new = Step.objects.create(
        team_id=step.team_id,
        run=run,
        node_id=step.node_id,
        node_type=step.node_type,
        iteration=step.iteration,
        item=step.item,
        attempt=step.attempt + 1,
        status=StepStatus.QUEUED,
        queue=step.queue,
        queued_at=now,
        not_before=now + timedelta(seconds=delay),
    )
    StepPayload.objects.create(step=new, inputs=payload.inputs, upstream=payload.upstream)
    Run.objects.filter(pk=run.pk).update(step_count=F("step_count") + 1)
    run.step_count += 1
    append_event(
        run, EventType.STEP_RETRYING, _ids(new) | {"delay_ms": round(delay * 1000), "error": error}
    )
    item = new.item is not None
    transaction.on_commit(lambda: send_step(new.pk, new.queue, new.team_id, delay, item=item))
    return new


# The Step fields an outcome sets (_store, Ledger.add).
OUTCOME_FIELDS = [
    "status",
    "finished_at",
    "latency_ms",
    "lease_token",
    "error",
    "child_run",
    "tokens_in",
    "tokens_out",
    "cost_usd",
    "provider",
    "model",
    "ttft_ms",
]


class Ledger:
    """What the outcomes stored in one transaction (run row locked) write: each
    step's tokens and cost are set and its llm.call events appended as it is
    added; `flush` then writes the steps' outcome fields and payloads (one
    statement), inserts the call rows together, saves the run's totals and
    charges the team once."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.rows: list[LLMCallRecord] = []
        self.charged = Decimal(0)
        self.saves: list[tuple[Step, dict[str, Any]]] = []

    def save(self, step: Step, payload: dict[str, Any]) -> None:
        """Write `step`'s outcome fields and `payload` (StepPayload fields) at flush."""
        self.saves.append((step, payload))

    def add(self, step: Step, calls: list[LLMCall]) -> None:
        if not calls:
            return
        run = self.run
        self.rows += [
            LLMCallRecord(
                team_id=run.team_id,
                run=run,
                step=step,
                provider=c.provider,
                model=c.model,
                tokens_in=c.tokens_in,
                tokens_out=c.tokens_out,
                cost_usd=c.cost_usd,
                ttft_ms=c.ttft_ms,
                latency_ms=c.latency_ms,
                retries=c.retries,
                simulated=c.simulated,
            )
            for c in calls
        ]
        priced = [c.cost_usd for c in calls if c.cost_usd is not None]
        step.tokens_in = sum(c.tokens_in for c in calls)
        step.tokens_out = sum(c.tokens_out for c in calls)
        step.cost_usd = sum(priced, Decimal(0)) if priced else None
        step.provider = calls[-1].provider
        step.model = calls[-1].model
        step.ttft_ms = calls[0].ttft_ms
        run.tokens_in += step.tokens_in
        run.tokens_out += step.tokens_out
        run.cost_usd += sum(priced, Decimal(0))
        run.unpriced_calls += len(calls) - len(priced)
        self.charged += sum(priced, Decimal(0))
        for c in calls:
            append_event(
                run,
                EventType.LLM_CALL,
                _ids(step)
                | {
                    "provider": c.provider,
                    "model": c.model,
                    "tokens_in": c.tokens_in,
                    "tokens_out": c.tokens_out,
                    "cost_usd": str(c.cost_usd) if c.cost_usd is not None else None,
                    "ttft_ms": c.ttft_ms,
                    "latency_ms": c.latency_ms,
                    "retries": c.retries,
                    "simulated": c.simulated,
                },
            )

    def flush(self) -> None:
        if self.saves:
            updates: list[bulk.Update] = [(Step, [step for step, _ in self.saves], OUTCOME_FIELDS)]
            by_fields: dict[tuple[str, ...], list[StepPayload]] = {}
            for step, payload in self.saves:
                row = StepPayload(step_id=step.pk, **payload)
                by_fields.setdefault(tuple(sorted(payload)), []).append(row)
            updates += [(StepPayload, rows, list(fields)) for fields, rows in by_fields.items()]
            bulk.update_rows_together(updates)  # one statement
            self.saves = []
        if not self.rows:
            return
        LLMCallRecord.objects.bulk_create(self.rows)
        self.run.save(update_fields=["tokens_in", "tokens_out", "cost_usd", "unpriced_calls"])
        quotas.charge(self.run.team_id, self.charged)
        self.rows, self.charged = [], Decimal(0)


def start_child(
    parent_run_id: int, step_id: int, workflow: str, version: int | None, inputs: dict[str, Any]
) -> int:
    """Start a child run for a subworkflow step; returns its id. Raises NodeError."""
    from webapp.runs.services import RunInputError, do_start_child_run

    try:
        return do_start_child_run(parent_run_id, step_id, workflow, version, inputs).pk
    except RunInputError as exc:
        raise NodeError(str(exc), retryable=False) from None
    finally:
        connection.close()


def resume_parent(child: Run) -> None:
    """Complete the parent's waiting subworkflow step with the child's outcome."""
    if child.parent_run_id is None or child.parent_step_id is None:
        return
    parent = Run.objects.select_for_update().get(pk=child.parent_run_id)
    step = Step.objects.select_for_update().get(pk=child.parent_step_id)
    if step.status not in (StepStatus.WAITING, StepStatus.RUNNING) or parent.status in RUN_TERMINAL:
        return
    now = timezone.now()
    step.finished_at = now
    step.lease_token = None
    step.child_run = child
    if step.started_at:
        step.latency_ms = (now - step.started_at).total_seconds() * 1000
    if child.status == RunStatus.SUCCEEDED:
        step.status = StepStatus.SUCCEEDED
        StepPayload.objects.filter(step=step).update(outputs={"out": child.outputs or {}})
        step.save()
        append_event(parent, EventType.STEP_SUCCEEDED, _ids(step) | metrics(step))
    else:
        step.status = StepStatus.FAILED
        step.error = f"child run {child.pk} {child.status}: {child.error}"
        step.save()
        append_event(
            parent, EventType.STEP_FAILED, _ids(step) | {"error": step.error, "will_retry": False}
        )
    parent.tokens_in += child.tokens_in
    parent.tokens_out += child.tokens_out
    parent.cost_usd += child.cost_usd
    parent.unpriced_calls += child.unpriced_calls
    parent.save(update_fields=["tokens_in", "tokens_out", "cost_usd", "unpriced_calls"])
    advance(parent)
