"""Adapting the pure planner to Postgres: load a run's state, plan, apply.

`advance(run)` must be called inside a transaction with the run row locked
(select_for_update). It applies plans until they settle and enqueues new steps
after commit. Lock order everywhere: run row, then step rows.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Min, Q
from django.utils import timezone

from orchestration.events import EventType
from orchestration.graph import Graph
from orchestration.planner import (
    DispatchMapItems,
    ExpandMap,
    FinishMap,
    MapProgress,
    Outcome,
    Plan,
    StartStep,
    StepRecord,
    plan,
)
from webapp.runs.bulk import insert_with_payload, prepared
from webapp.runs.events import append_event, is_batched
from webapp.runs.models import RUN_TERMINAL, Run, RunStatus, Step, StepPayload, StepStatus

log = logging.getLogger(__name__)
MAX_SETTLE_ROUNDS = 100


def graph_of(run: Run) -> Graph:
    """The run's pinned graph, parsed once per process (versions are immutable)."""
    return _parsed_graph(run.version_id, lambda: run.version.graph)


_graphs: dict[int, Graph] = {}


def _parsed_graph(version_id: int, load: Any) -> Graph:
    graph = _graphs.get(version_id)
    if graph is None:
        if len(_graphs) > 256:
            _graphs.clear()
        graph = _graphs[version_id] = Graph.model_validate(load())
    return graph


@dataclass
class RunNext:
    """A worker's offer to run one newly ready step itself (see worker.execute):
    the first step started on `queue` is created without being sent to the
    broker and left in `step` for the worker to claim in the same transaction."""

    queue: str
    worker: str
    step: Step | None = None


def advance(
    run: Run,
    runnext: RunNext | None = None,
    state: StateRows | None = None,
    recorded: Recorded | None = None,
) -> StateRows | None:
    """Plan and apply until nothing more can happen without a step running.
    `state`: the run's STATE_SQL rows kept by `keep_state` and still current
    (run locked), from before the non-item step `recorded` (step, outputs) was
    stored; the first plan uses them, with that step as now stored, instead
    of reading them.

    Returns the run's STATE_SQL rows as this transaction leaves them, when
    one plan settled and it only started and skipped steps (a chain's every
    hop); else None (the changes are not tracked here)."""
    if run.status in RUN_TERMINAL:
        return None
    graph = graph_of(run)
    for rounds in range(1, MAX_SETTLE_ROUNDS + 1):
        rows = _patched(state, recorded) if state is not None else _read_state(run)
        records, maps = _load_state(run, rows)
        result = plan(graph, records, maps, step_count=run.step_count, max_steps=run.max_steps)
        created: StateRows = []
        _apply(run, graph, result, runnext, created)
        if not result.settles_more:
            simple = not (result.expand or result.dispatch or result.finish or result.outcome)
            return rows + created if rounds == 1 and simple else None
        state = None
    raise RuntimeError(f"run {run.pk}: plan did not settle in {MAX_SETTLE_ROUNDS} rounds")


def _read_state(run: Run) -> StateRows:
    with prepared() as cursor:
        cursor.execute(STATE_SQL, [run.pk])
        return cursor.fetchall()


def _patched(rows: StateRows, recorded: Recorded | None) -> StateRows:
    """`rows` with the step `recorded` since as now stored (its outputs as
    JSON text, as read: each plan decodes its own copy)."""
    if recorded is None:
        return rows
    step, outputs = recorded
    status = str(step.status)
    text = json.dumps(outputs) if status == StepStatus.SUCCEEDED else None
    patched = with_outcome(rows, step.pk, status, step.error, text)
    return list(rows) if patched is None else patched


def with_outcome(
    rows: StateRows, step_id: int, status: str, error: str | None, outputs: str | None
) -> StateRows | None:
    """A copy of STATE_SQL `rows` with step `step_id`'s status, error (None:
    as it was) and outputs (JSON text) replaced; None if it is not among them."""
    for index, row in enumerate(rows):
        if row[0] == step_id:
            patched = list(rows)
            kept_error = row[4] if error is None else error
            patched[index] = (row[0], row[1], row[2], status, kept_error, row[5], outputs)
            return patched
    return None


@dataclass(frozen=True, slots=True)
class Kept:
    """A run's state as this thread's last record of it committed it: its
    STATE_SQL `rows` at `event_seq` and `step_count`, and the `run` object
    that record locked (for what never changes: team, version, inputs,
    deadline, max_steps)."""

    run: Run
    event_seq: int
    step_count: int
    rows: StateRows


_kept = threading.local()  # .state: Kept


def keep_state(run: Run, rows: StateRows) -> None:
    """After this transaction commits, keep `rows` (advance's result) as the
    run's state at its `event_seq` then (events are written: call after the
    `batched` block), for this thread's next record of the run (`kept_state`)."""
    kept = Kept(run, run.event_seq, run.step_count, rows)
    transaction.on_commit(lambda: set_kept(kept))


def set_kept(kept: Kept) -> None:
    """Keep `kept` for this thread now (its transaction has committed)."""
    _kept.state = kept


def kept_state(run_id: int) -> Kept | None:
    """The state this thread kept for `run_id`, or None."""
    kept: Kept | None = getattr(_kept, "state", None)
    return kept if kept is not None and kept.run.pk == run_id else None


def current_state(run: Run, kept: Kept | None) -> StateRows | None:
    """The `kept` rows if still the run's state: every change to a step the
    planner reads appends an event, so an unchanged `event_seq` (run locked)
    means nothing changed since (a step turning `waiting` appends none, and
    the planner treats waiting as running). Else None (read them)."""
    if kept is not None and kept.event_seq == run.event_seq:
        return kept.rows
    return None


# The latest attempt of every non-item step of a run, with the outputs of those
# that succeeded (jsonb as text: Django's psycopg set-up). Plain SQL: this runs
# on every hop, and compiling it through the ORM cost more than running it.
STATE_SQL = """
    SELECT s.id, s.node_id, s.iteration, s.status, s.error, s.node_type,
           CASE WHEN s.status = 'succeeded' THEN p.outputs END
    FROM runs_step s LEFT JOIN runs_steppayload p ON p.step_id = s.id
    WHERE s.run_id = %s AND NOT s.superseded AND s.item IS NULL
    ORDER BY s.id
"""

StateRows = list[tuple[Any, ...]]  # rows of STATE_SQL


Recorded = tuple[Step, dict[str, Any] | None]  # a step stored since, and its outputs


def _load_state(
    run: Run, rows: StateRows
) -> tuple[list[StepRecord], dict[tuple[str, int], MapProgress]]:
    """The planner's input, from the run's STATE_SQL `rows` (outputs as JSON
    text, decoded when the planner reads them) and its running maps' progress."""
    records = []
    running_maps = []
    for _, node_id, iteration, status, error, node_type, outputs in rows:
        decoded = _JSONOutputs(outputs) if outputs is not None else None
        records.append(StepRecord(node_id, iteration, status, decoded, error))
        if node_type == "map" and status == StepStatus.RUNNING:
            running_maps.append((node_id, iteration))
    return records, {key: _map_progress(run, *key) for key in running_maps}


class _JSONOutputs(Mapping[str, Any]):
    """A step's outputs as stored (JSON text), decoded on the planner's first
    read: a plan reads the outputs of the few steps whose successors it
    decides, not of every step of the run."""

    __slots__ = ("_text", "_value")

    def __init__(self, text: str) -> None:
        self._text = text
        self._value: dict[str, Any] | None = None

    def _decoded(self) -> dict[str, Any]:
        if self._value is None:
            value = json.loads(self._text)
            self._value = value if isinstance(value, dict) else {}
        return self._value

    def __getitem__(self, key: str) -> Any:
        return self._decoded()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._decoded())

    def __len__(self) -> int:
        return len(self._decoded())


def _map_progress(run: Run, node_id: str, iteration: int) -> MapProgress:
    items = Step.objects.filter(
        run=run, node_id=node_id, iteration=iteration, item__isnull=False, superseded=False
    )
    counts = items.aggregate(
        total=Count("id"),
        pending=Count("id", filter=Q(status=StepStatus.PENDING)),
        active=Count(
            "id",
            filter=Q(status__in=[StepStatus.QUEUED, StepStatus.RUNNING, StepStatus.WAITING]),
        ),
        succeeded=Count("id", filter=Q(status=StepStatus.SUCCEEDED)),
        failed=Count("id", filter=Q(status=StepStatus.FAILED)),
        first_failed=Min("item", filter=Q(status=StepStatus.FAILED)),
    )
    first_error = None
    if counts["first_failed"] is not None:
        failed = items.filter(item=counts["first_failed"]).first()
        first_error = f"item {counts['first_failed']}: {failed.error}" if failed else None
    return MapProgress(
        total=counts["total"],
        active=counts["active"],
        pending=counts["pending"],
        succeeded=counts["succeeded"],
        failed=counts["failed"],
        first_error=first_error,
    )


def _apply(
    run: Run,
    graph: Graph,
    result: Plan,
    runnext: RunNext | None = None,
    new_rows: StateRows | None = None,
) -> None:
    """Apply `result`; the steps it starts and skips are added to `new_rows`
    as STATE_SQL rows."""
    if run.status == RunStatus.QUEUED:
        run.status = RunStatus.RUNNING
        run.started_at = timezone.now()
        run.save(update_fields=["status", "started_at"])
        append_event(run, EventType.RUN_STARTED)
    nodes = graph.nodes_by_id()
    for skip in result.skip:
        step = _create_step(
            run,
            skip.node_id,
            nodes[skip.node_id].type,
            skip.iteration,
            None,
            StepStatus.SKIPPED,
            "cpu",
        )
        append_event(run, EventType.STEP_SKIPPED, _ids(step) | {"reason": skip.reason})
        if new_rows is not None:
            new_rows.append(_state_row(step))
    for start in result.start:
        inline = runnext is not None and runnext.step is None and start.queue == runnext.queue
        step = _create_step(
            run,
            start.node_id,
            nodes[start.node_id].type,
            start.iteration,
            None,
            StepStatus.RUNNING if inline else StepStatus.QUEUED,
            start.queue,
            start.inputs,
            start.upstream,
            **(lease_fields(runnext.worker) if runnext and inline else {}),
        )
        if new_rows is not None:
            new_rows.append(_state_row(step))
        if runnext is not None and inline:
            # Created already running under the worker's lease: it runs the step
            # next, with no broker round trip (worker.execute).
            runnext.step = step
            append_event(run, EventType.STEP_QUEUED, _ids(step) | {"queue": step.queue})
            continue
        _enqueue(run, step)
    for expand in result.expand:
        _expand_map(run, expand)
    for dispatch in result.dispatch:
        _dispatch(run, dispatch)
    for finish in result.finish:
        _finish_map(run, finish)
    created = getattr(run, "_steps_created", 0)
    if created and not is_batched(run):  # else the batch stores it with the events
        run._steps_created = 0  # type: ignore[attr-defined]
        Run.objects.filter(pk=run.pk).update(step_count=F("step_count") + created)
    if result.outcome is not None:
        finish_run(run, result.outcome)


def _state_row(step: Step) -> tuple[Any, ...]:
    """A new step's STATE_SQL row (no outputs yet)."""
    return state_row(
        step.pk, step.node_id, step.iteration, str(step.status), step.error, step.node_type
    )


def state_row(
    step_id: int, node_id: str, iteration: int, status: str, error: str, node_type: str
) -> tuple[Any, ...]:
    """A new step's STATE_SQL row (no outputs yet), from its values."""
    return (step_id, node_id, iteration, status, error, node_type, None)


def _create_step(
    run: Run,
    node_id: str,
    node_type: str,
    iteration: int,
    item: int | None,
    status: StepStatus,
    queue: str,
    inputs: dict[str, Any] | None = None,
    upstream: list[dict[str, Any]] | None = None,
    attempt: int = 1,
    **fields: Any,
) -> Step:
    now = timezone.now()
    terminal = status in (StepStatus.SKIPPED, StepStatus.CANCELLED)
    if status == StepStatus.RUNNING and "started_at" in fields:
        fields["queued_at"] = fields["started_at"]
    values: dict[str, Any] = {
        "team_id": run.team_id,
        "run": run,
        "node_id": node_id,
        "node_type": node_type,
        "iteration": iteration,
        "item": item,
        "attempt": attempt,
        "status": status,
        "queue": queue,
        "queued_at": now if status == StepStatus.QUEUED else None,
        "finished_at": now if terminal else None,
    }
    step = Step(**(values | fields))
    # One statement for both rows; the payload is also cached as step.payload
    # (run-next claims the step in this transaction).
    payload = StepPayload(step=step, inputs=inputs or {}, upstream=upstream or [])
    insert_with_payload(step, payload)
    step.payload = payload
    count_created(run, 1)
    return step


def count_created(run: Run, n: int) -> None:
    """Count `n` new steps on `run` (stored by the next plan application)."""
    run.step_count += n
    run._steps_created = getattr(run, "_steps_created", 0) + n  # type: ignore[attr-defined]


def lease_fields(worker: str) -> dict[str, Any]:
    """The fields (but status) of a step `worker` starts now under a new lease (fencing token)."""
    now = timezone.now()
    return {
        "started_at": now,
        "worker": worker,
        "lease_token": uuid.uuid4(),
        "lease_expires_at": now + timedelta(seconds=settings.STEP_LEASE_S),
        "queue_wait_ms": 0.0,
    }


def _ids(step: Step) -> dict[str, Any]:
    return step_ids(step.pk, step.node_id, step.iteration, step.item, step.attempt)


def step_ids(
    step_id: int | None, node_id: str, iteration: int, item: int | None, attempt: int
) -> dict[str, Any]:
    """What every step event's payload says of its step."""
    return {
        "step_id": step_id,
        "node_id": node_id,
        "iteration": iteration,
        "item": item,
        "attempt": attempt,
    }


def _enqueue(run: Run, step: Step, countdown_s: float = 0.0) -> None:
    """Record step.queued and send the task after commit (ids only: no secrets)."""
    append_event(run, EventType.STEP_QUEUED, _ids(step) | {"queue": step.queue})
    transaction.on_commit(lambda: send_step(step.pk, step.queue, step.team_id, countdown_s))


def send_step(
    step_id: int, queue: str, team_id: int, countdown_s: float = 0.0, *, item: bool = False
) -> None:
    """Send a step's task to the team's shard of `queue` ("io" or "cpu"; see
    webapp.celery.shard_queue: fair round robin between teams). A map `item`
    goes as a chunk of one (send_items)."""
    from webapp.celery import shard_queue
    from webapp.runs.tasks import execute_step

    if item:
        send_items([[step_id]], queue, team_id, countdown_s)
        return
    execute_step.apply_async(
        args=(step_id,), queue=shard_queue(queue, team_id), countdown=countdown_s
    )


def send_items(chunks: list[list[int]], queue: str, team_id: int, countdown_s: float = 0.0) -> None:
    """Send map items to the team's shard of `queue`, one message per chunk of
    up to MAP_ITEMS_PER_MESSAGE step ids (tasks.execute_items): Celery with
    Redis takes each message in at a few hundred a second per worker, which for
    a large map cost more than the items' calls (docs/benchmarks.md, B2)."""
    from webapp.celery import shard_queue
    from webapp.runs.tasks import execute_items

    target = shard_queue(queue, team_id)
    for chunk in chunks:
        execute_items.apply_async(args=(chunk,), queue=target, countdown=countdown_s)


def _expand_map(run: Run, expand: ExpandMap) -> None:
    parent = _create_step(
        run,
        expand.node_id,
        "map",
        expand.iteration,
        None,
        StepStatus.RUNNING,
        expand.queue,
        {"items": expand.items, "context": expand.context},
        expand.upstream,
    )
    parent.started_at = timezone.now()
    parent.save(update_fields=["started_at"])
    append_event(run, EventType.STEP_STARTED, _ids(parent) | {"items": len(expand.items)})
    steps = Step.objects.bulk_create(
        Step(
            team_id=run.team_id,
            run=run,
            node_id=expand.node_id,
            node_type=expand.body_type,
            iteration=expand.iteration,
            item=index,
            status=StepStatus.PENDING,
            queue=expand.queue,
        )
        for index in range(len(expand.items))
    )
    count_created(run, len(steps))
    # Not the edge carrying the whole list: copying it into every item is O(N^2).
    item_upstream = [u for u in expand.upstream if u["target_port"] != "items"]
    StepPayload.objects.bulk_create(
        StepPayload(
            step=step,
            inputs={"in": value, "item": value, "index": index, "context": expand.context},
            upstream=item_upstream,
        )
        for index, (step, value) in enumerate(zip(steps, expand.items, strict=True))
    )


def _dispatch(run: Run, dispatch: DispatchMapItems) -> None:
    pending = list(
        Step.objects.filter(
            run=run,
            node_id=dispatch.node_id,
            iteration=dispatch.iteration,
            status=StepStatus.PENDING,
            item__isnull=False,
        ).order_by("item")[: dispatch.count]
    )
    now = timezone.now()
    for step in pending:
        step.status = StepStatus.QUEUED
        step.queued_at = now
    Step.objects.bulk_update(pending, ["status", "queued_at"])
    for step in pending:
        append_event(run, EventType.STEP_QUEUED, _ids(step) | {"queue": step.queue})
    if not pending:
        return
    size = settings.MAP_ITEMS_PER_MESSAGE
    chunks = [[s.pk for s in pending[i : i + size]] for i in range(0, len(pending), size)]
    queue, team_id = pending[0].queue, run.team_id
    transaction.on_commit(lambda: send_items(chunks, queue, team_id))


def _finish_map(run: Run, finish: FinishMap) -> None:
    parent = (
        Step.objects.select_for_update()
        .filter(
            run=run,
            node_id=finish.node_id,
            iteration=finish.iteration,
            item__isnull=True,
            superseded=False,
        )
        .first()
    )
    items = list(
        Step.objects.filter(
            run=run,
            node_id=finish.node_id,
            iteration=finish.iteration,
            item__isnull=False,
            superseded=False,
        )
        .select_related("payload")
        .order_by("item")
    )
    results, errors = [], []
    for item in items:
        outputs = item.payload.outputs or {}
        first = next(iter(outputs.values()), None) if item.status == StepStatus.SUCCEEDED else None
        results.append(first)
        errors.append(item.error or None if item.status != StepStatus.SUCCEEDED else None)
    # Items still pending or queued when a fail-fast map fails are cancelled.
    Step.objects.filter(
        pk__in=[i.pk for i in items if i.status in (StepStatus.PENDING, StepStatus.QUEUED)]
    ).update(status=StepStatus.CANCELLED, finished_at=timezone.now())
    now = timezone.now()
    if parent is None:  # the map failed before expanding (its input was not a list)
        node_type = "map"
        parent = _create_step(
            run, finish.node_id, node_type, finish.iteration, None, StepStatus.FAILED, "cpu"
        )
    parent.status = StepStatus.FAILED if finish.error else StepStatus.SUCCEEDED
    parent.error = finish.error or ""
    parent.finished_at = now
    if parent.started_at:
        parent.latency_ms = (now - parent.started_at).total_seconds() * 1000
    parent.tokens_in = sum(i.tokens_in for i in items)
    parent.tokens_out = sum(i.tokens_out for i in items)
    priced = [i.cost_usd for i in items if i.cost_usd is not None]
    parent.cost_usd = sum(priced, Decimal(0)) if priced else None
    parent.save()
    StepPayload.objects.filter(step=parent).update(outputs={"results": results, "errors": errors})
    event = EventType.STEP_FAILED if finish.error else EventType.STEP_SUCCEEDED
    append_event(
        run, event, _ids(parent) | metrics(parent) | {"error": finish.error, "items": len(items)}
    )


def metrics(step: Step) -> dict[str, Any]:
    """A finished step's figures for events: ms, tokens, USD (str, or None if unpriced)."""
    return step_metrics(
        step.latency_ms, step.queue_wait_ms, step.tokens_in, step.tokens_out, step.cost_usd
    )


def step_metrics(
    latency_ms: float | None,
    queue_wait_ms: float | None,
    tokens_in: int,
    tokens_out: int,
    cost_usd: Decimal | None,
) -> dict[str, Any]:
    """`metrics` from the values: ms, tokens, USD."""
    return {
        "latency_ms": round(latency_ms or 0, 1),
        "queue_wait_ms": round(queue_wait_ms or 0, 1),
        "tokens_in": tokens_in,
        "tokens_out": tokens_out,
        "cost_usd": str(cost_usd) if cost_usd is not None else None,
    }


def finish_run(run: Run, outcome: Outcome) -> None:
    """Record the run's end, cancel what is still active, and resume a parent run."""
    now = timezone.now()
    run.status = RunStatus.SUCCEEDED if outcome.status == "succeeded" else RunStatus.FAILED
    run.outputs = outcome.outputs if outcome.status == "succeeded" else None
    run.error = outcome.error or ""
    run.finished_at = now
    run.save(update_fields=["status", "outputs", "error", "finished_at"])
    cancel_active_steps(run, now)
    if run.parent_run_id is None:  # its slot is free: start the team's next waiting run
        from webapp.runs.quotas import admit_waiting

        team_id = run.team_id
        transaction.on_commit(lambda: admit_waiting(team_id))
    totals = run_totals(run)
    if run.status == RunStatus.SUCCEEDED:
        append_event(run, EventType.RUN_SUCCEEDED, {"outputs": run.outputs, "totals": totals})
    else:
        append_event(run, EventType.RUN_FAILED, {"error": run.error, "totals": totals})
    if run.parent_step_id:
        from webapp.runs.worker import resume_parent

        resume_parent(run)


def cancel_active_steps(run: Run, now: Any) -> None:
    """Cancel steps that have not started; running ones are interrupted by their
    workers (a Redis flag, set after commit) and record themselves cancelled."""
    Step.objects.filter(
        run=run, status__in=[StepStatus.PENDING, StepStatus.QUEUED, StepStatus.WAITING]
    ).update(status=StepStatus.CANCELLED, finished_at=now, lease_token=None)
    if Step.objects.filter(run=run, status=StepStatus.RUNNING).exists():
        from webapp.runs.worker import flag_cancelled

        transaction.on_commit(lambda: flag_cancelled(run.pk))


def run_totals(run: Run) -> dict[str, Any]:
    """{"steps", "tokens_in", "tokens_out", "cost_usd" (str), "unpriced_calls", "elapsed_ms"}."""
    elapsed = None
    if run.started_at and run.finished_at:
        elapsed = round((run.finished_at - run.started_at).total_seconds() * 1000, 1)
    return {
        "steps": run.step_count,
        "tokens_in": run.tokens_in,
        "tokens_out": run.tokens_out,
        "cost_usd": str(run.cost_usd),
        "unpriced_calls": run.unpriced_calls,
        "elapsed_ms": elapsed,
    }


__all__ = ["RunNext", "StartStep", "advance", "finish_run", "graph_of", "send_step"]
