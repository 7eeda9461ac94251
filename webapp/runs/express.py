"""The express record: a step's outcome, the run's next steps and their events
written by one statement (worker.record tries it first).

It applies when this thread's last record of the run kept the run's state
(engine.Kept) and the outcome is the common one: a step that is not a map
item succeeded and made no LLM calls. The planner then runs before any lock
is taken, on the kept rows with this outcome, and if its plan only starts and
skips steps, one statement in autocommit (its own transaction: one round
trip, one commit) locks the run and the step and, only if the run is still
running with the kept `event_seq` and `step_count` (nothing changed the run
since: every change to a step the planner reads appends an event) and the
step still holds the attempt's lease (fencing), writes:
- the step's outcome fields and its payload (outputs, text, logs);
- the steps the plan starts and skips, and their payloads (their ids drawn
  from the step id sequence in the statement); run-next's step is created
  running under the worker's lease, as engine._apply does;
- their events (step.succeeded, step.skipped, step.queued, step.started) with
  consecutive seqs, and the run's `event_seq` and `step_count`.
Otherwise it writes nothing and returns None: the general path records the
outcome (run and step locked, the state read if need be). The rows and events
are the general path's (tests/webapp/runs/test_express.py compares the two).

Why: the general path costs a hop about seven round trips (begin, two locks,
outcome, insert, events, commit) and Django model instances; this is one
round trip of plain tuples (docs/benchmarks.md, B1).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection, models
from django.utils import timezone
from psycopg import sql
from psycopg.types.json import Jsonb

from orchestration.events import EventType
from orchestration.planner import Plan, plan
from webapp.runs.bulk import prepared
from webapp.runs.engine import (
    Kept,
    RunNext,
    StateRows,
    _load_state,
    graph_of,
    send_step,
    set_kept,
    state_row,
    step_ids,
    step_metrics,
    with_outcome,
)
from webapp.runs.events import Appended, message, publish_many
from webapp.runs.models import Run, RunStatus, Step, StepPayload, StepStatus

if TYPE_CHECKING:
    from webapp.runs.worker import Attempt


# At most this many new steps per express record (else the general path): the
# statement has 23 parameters per new step (Postgres takes at most 65,535), and
# each shape is its own prepared statement.
MAX_NEW_STEPS = 32

_SKIPPED, _QUEUED, _RUNNING = (
    StepStatus.SKIPPED.value,
    StepStatus.QUEUED.value,
    StepStatus.RUNNING.value,
)


@dataclass(slots=True)
class NextStep:
    """The step an express record created running under the worker's lease,
    for it to run next (run-next)."""

    step_id: int
    node_id: str
    iteration: int
    queue: str
    token: uuid.UUID
    started_at: datetime
    inputs: dict[str, Any]
    upstream: list[dict[str, Any]]


@dataclass(slots=True)
class Recorded:
    """An express record that committed; `next`: the step it started for
    run-next, if any."""

    next: NextStep | None


@dataclass(slots=True)
class _New:
    """A step the plan creates: its STEP_SET fields (and `id` once drawn), its
    payload's, and its event (step.skipped or step.queued)."""

    fields: dict[str, Any]
    inputs: dict[str, Any]
    upstream: list[dict[str, Any]]
    event: Appended


# Each event of a record, and the ordinal (from 1) of the new step it is about,
# whose id the statement draws (None: the recorded step).
Events = list[tuple[Appended, int | None]]


def record(
    kept: Kept, attempt: Attempt, outputs: dict[str, Any], runnext: RunNext | None
) -> Recorded | None:
    """Record that `attempt` (not a map item, no LLM calls) succeeded with
    `outputs` and advance the run, in one statement, if the run is still as
    `kept` (this thread's last record of it), the lease still the attempt's,
    and the plan only starts and skips steps. Returns Recorded (the step started for
    `runnext`, if any) once committed; None, having written nothing,
    otherwise. Raises django.db.DatabaseError (nothing written)."""
    planned = _plan(kept, attempt.step_id, outputs)
    if planned is None:
        return None
    state, result, text = planned
    if len(result.start) + len(result.skip) > MAX_NEW_STEPS:
        return None  # (a wide fan-out: one statement per shape would grow without bound)
    now = timezone.now()
    new = _new_steps(kept, result, runnext, now)
    inline = next((entry for entry in new if entry.fields["status"] == _RUNNING), None)
    latency_ms = _latency_ms(attempt, now)
    events = _events(attempt, latency_ms, new, inline, now)
    params: list[Any] = [
        *(kept.run.pk, kept.event_seq, kept.step_count, attempt.step_id, attempt.token),
        len(new),
        *(now, latency_ms, attempt.step_id),
        *(text, "".join(attempt.context.text_parts), Jsonb(attempt.context.logs), attempt.step_id),
    ]
    for ordinal, entry in enumerate(new, start=1):
        params += [ordinal, *(entry.fields[name] for name in STEP_SET)]
    for ordinal, entry in enumerate(new, start=1):
        params += [ordinal, Jsonb(entry.inputs), Jsonb(entry.upstream)]
    params += [len(events), len(new), kept.event_seq]
    for ordinal, (event, about) in enumerate(events, start=1):
        params += [ordinal, event.type, Jsonb(event.payload), event.ts, about]
    with prepared() as cursor:
        cursor.execute(_statement(len(new), len(events)), params)
        found = cursor.fetchone()
    assert found is not None
    locked, ids = found
    if not locked:
        return None  # the run changed, or the lease was lost: nothing written
    _committed(kept, state, new, events, ids)
    if inline is None:
        return Recorded(None)
    f = inline.fields
    started = NextStep(
        f["id"], f["node_id"], f["iteration"], f["queue"], f["lease_token"], now,
        inline.inputs, inline.upstream,
    )  # fmt: skip
    return Recorded(started)


def _plan(kept: Kept, step_id: int, outputs: dict[str, Any]) -> tuple[StateRows, Plan, str] | None:
    """(the kept rows with the step as succeeded, the plan, the outputs as
    JSON text) if the plan only starts and skips steps, else None."""
    if any(row[5] == "map" and row[3] == _RUNNING for row in kept.rows):
        return None  # (a running map's progress is read from its items: general path)
    text = json.dumps(outputs)
    state = with_outcome(kept.rows, step_id, StepStatus.SUCCEEDED.value, None, text)
    if state is None:
        return None
    run = kept.run
    records, _ = _load_state(run, state)
    result = plan(graph_of(run), records, step_count=kept.step_count, max_steps=run.max_steps)
    if result.expand or result.dispatch or result.finish or result.outcome is not None:
        return None
    return state, result, text


def _new_steps(kept: Kept, result: Plan, runnext: RunNext | None, now: datetime) -> list[_New]:
    """The steps `result` skips and starts, as engine._apply creates them: the
    first started on `runnext`'s queue running under its worker's lease."""
    run = kept.run
    nodes = graph_of(run).nodes_by_id()
    new: list[_New] = []
    for skip in result.skip:
        fields = _step_fields(run, skip.node_id, nodes[skip.node_id].type, skip.iteration)
        fields |= {"status": _SKIPPED, "finished_at": now}
        payload = step_ids(None, skip.node_id, skip.iteration, None, 1) | {"reason": skip.reason}
        new.append(_New(fields, {}, [], Appended(EventType.STEP_SKIPPED.value, payload, now)))
    inline = runnext
    for start in result.start:
        fields = _step_fields(run, start.node_id, nodes[start.node_id].type, start.iteration)
        fields |= {"queue": start.queue}
        if inline is not None and start.queue == inline.queue:
            fields |= {
                "status": _RUNNING,
                "queued_at": now,
                "started_at": now,
                "worker": inline.worker,
                "lease_token": uuid.uuid4(),
                "lease_expires_at": now + timedelta(seconds=settings.STEP_LEASE_S),
                "queue_wait_ms": 0.0,
            }
            inline = None
        else:
            fields |= {"status": _QUEUED, "queued_at": now}
        payload = step_ids(None, start.node_id, start.iteration, None, 1) | {"queue": start.queue}
        event = Appended(EventType.STEP_QUEUED.value, payload, now)
        new.append(_New(fields, dict(start.inputs), list(start.upstream), event))
    return new


def _events(
    attempt: Attempt, latency_ms: float | None, new: list[_New], inline: _New | None, now: datetime
) -> Events:
    """The record's events in the general path's order: step.succeeded, each
    new step's, then step.started of run-next's step."""
    context = attempt.context
    metrics = step_metrics(latency_ms, attempt.queue_wait_ms, 0, 0, None)
    ids = step_ids(attempt.step_id, context.node_id, context.iteration, None, context.attempt)
    events: Events = [(Appended(EventType.STEP_SUCCEEDED.value, ids | metrics, now), None)]
    events += [(entry.event, ordinal) for ordinal, entry in enumerate(new, start=1)]
    if inline is not None:
        f = inline.fields
        payload = step_ids(None, f["node_id"], f["iteration"], None, 1) | {"worker": f["worker"]}
        started = Appended(EventType.STEP_STARTED.value, payload, now)
        events.append((started, new.index(inline) + 1))
    return events


def _latency_ms(attempt: Attempt, now: datetime) -> float | None:
    started = attempt.started_at
    return (now - started).total_seconds() * 1000 if started else None


def _committed(
    kept: Kept, state: StateRows, new: list[_New], events: Events, ids: list[int]
) -> None:
    """After commit, what the general path does then: the new steps get their
    ids, the events their seqs and are published, queued steps are sent, and
    the run's state as this record left it is kept for the next."""
    run = kept.run
    for entry, new_id in zip(new, ids, strict=True):
        f = entry.fields
        f["id"] = new_id
        state.append(
            state_row(new_id, f["node_id"], f["iteration"], f["status"], "", f["node_type"])
        )
    for seq, (event, about) in enumerate(events, start=kept.event_seq + 1):
        event.seq = seq
        if about is not None:
            event.payload["step_id"] = new[about - 1].fields["id"]
    publish_many([(message(run.pk, event), run.pk, None) for event, _ in events])
    for entry in new:
        if entry.fields["status"] == _QUEUED:
            send_step(entry.fields["id"], entry.fields["queue"], run.team_id)
    set_kept(Kept(run, kept.event_seq + len(events), kept.step_count + len(new), state))


# The Step fields a new step's row sets (its STEP_SET values: parameters); the
# others hold their defaults (literals of the statement), as engine._create_step
# leaves them. StepPayload: `inputs` and `upstream` are set.
STEP_SET = (
    "team_id",
    "run_id",
    "node_id",
    "node_type",
    "iteration",
    "status",
    "queue",
    "queued_at",
    "started_at",
    "finished_at",
    "worker",
    "lease_token",
    "lease_expires_at",
    "queue_wait_ms",
)
PAYLOAD_SET = ("inputs", "upstream")


def _step_fields(run: Run, node_id: str, node_type: str, iteration: int) -> dict[str, Any]:
    """STEP_SET values of a new step of `run`, but its status."""
    return {
        "team_id": run.team_id,
        "run_id": run.pk,
        "node_id": node_id,
        "node_type": node_type,
        "iteration": iteration,
        "queue": "cpu",
        "queued_at": None,
        "started_at": None,
        "finished_at": None,
        "worker": "",
        "lease_token": None,
        "lease_expires_at": None,
        "queue_wait_ms": None,
    }


def _literal(value: Any) -> str:
    """`value` (a field default as written) as an SQL literal."""
    db = connection
    db.ensure_connection()
    return sql.Literal(value).as_string(db.connection)


@lru_cache(maxsize=64)
def _statement(steps: int, events: int) -> str:
    """The express statement for `steps` new steps and `events` events (built
    once per shape; prepared per connection). The run row is locked before
    the step's (the engine's lock order). Parameters, in order: run id, kept
    event seq, kept step count, step id, lease token, number of new steps;
    the outcome (finished_at, latency_ms, step id; outputs, text, logs, step
    id); each new step's ordinal and fields, then each new payload's; the
    events count, the new steps count, the kept event seq again; each event's
    ordinal, type, payload, ts and the ordinal of the new step it is about.
    Returns one row: (1 if it wrote, else 0; the new step ids in order)."""
    quote = connection.ops.quote_name

    def values(model: type[models.Model], set_: tuple[str, ...], rows: int) -> tuple[str, str, str]:
        """(columns, what to insert, `(VALUES ...) AS v(...)` of `rows` rows: an
        ordinal and the `set_` fields); the others get their defaults."""
        meta = model._meta
        fields: list[models.Field[Any, Any]] = [meta.get_field(name) for name in set_]  # type: ignore[misc]
        fields += [f for f in meta.concrete_fields if not f.primary_key and f not in fields]
        columns = [quote(str(f.column)) for f in fields]
        casts = [f"::{f.cast_db_type(connection)}" for f in fields]
        row = ", ".join(["%s::int"] + [f"%s{cast}" for cast in casts[: len(set_)]])
        selected = [f"v.{column}" for column in columns[: len(set_)]]
        selected += [
            _literal(f.get_db_prep_save(f.get_default(), connection)) + cast
            for f, cast in zip(fields[len(set_) :], casts[len(set_) :], strict=True)
        ]
        names = ", ".join(["ord", *columns[: len(set_)]])
        rows_sql = ", ".join([f"({row})"] * rows)
        return ", ".join(columns), ", ".join(selected), f"(VALUES {rows_sql}) AS v({names})"

    running = RunStatus.RUNNING.value
    text = f"""
        WITH run AS (
            SELECT id FROM runs_run
            WHERE id = %s AND status = '{running}' AND NOT cancel_requested
              AND event_seq = %s AND step_count = %s
            FOR UPDATE
        ), locked AS (
            SELECT run.id FROM run, runs_step s
            WHERE s.id = %s AND s.run_id = run.id
              AND s.status = '{StepStatus.RUNNING.value}' AND s.lease_token = %s
            FOR UPDATE OF s
        ), ids AS MATERIALIZED (
            SELECT g.ord, nextval(pg_get_serial_sequence('runs_step', 'id')) AS id
            FROM locked, generate_series(1, %s) AS g(ord)
        ), outcome AS (
            UPDATE runs_step SET status = '{StepStatus.SUCCEEDED.value}', finished_at = %s,
                latency_ms = %s, lease_token = NULL
            FROM locked WHERE runs_step.id = %s
        ), outcome_payload AS (
            UPDATE runs_steppayload SET outputs = %s::jsonb, text = %s, logs = %s::jsonb
            FROM locked WHERE runs_steppayload.step_id = %s
        )"""  # noqa: S608 (only placeholders and this module's constants are interpolated)
    if steps:
        step_columns, step_selected, step_rows = values(Step, STEP_SET, steps)
        payload_columns, payload_selected, payload_rows = values(StepPayload, PAYLOAD_SET, steps)
        text += f""", new_steps AS (
            INSERT INTO runs_step (id, {step_columns})
            SELECT ids.id, {step_selected}
            FROM ids JOIN {step_rows} ON v.ord = ids.ord
        ), new_payloads AS (
            INSERT INTO runs_steppayload (step_id, {payload_columns})
            SELECT ids.id, {payload_selected}
            FROM ids JOIN {payload_rows} ON v.ord = ids.ord
        )"""  # noqa: S608
    event_rows = ", ".join(["(%s::int, %s, %s::jsonb, %s::timestamptz, %s::int)"] * events)
    text += f""", counters AS (
            UPDATE runs_run SET event_seq = event_seq + %s, step_count = step_count + %s
            FROM locked WHERE runs_run.id = locked.id
        ), new_events AS (
            INSERT INTO runs_runevent (run_id, seq, type, payload, ts)
            SELECT locked.id, %s + v.ord, v.type,
                CASE WHEN ids.id IS NULL THEN v.payload
                     ELSE jsonb_set(v.payload, '{{step_id}}', to_jsonb(ids.id)) END,
                v.ts
            FROM locked CROSS JOIN (VALUES {event_rows}) AS v(ord, type, payload, ts, step)
                LEFT JOIN ids ON ids.ord = v.step
        )
        SELECT (SELECT count(*) FROM locked), ARRAY(SELECT id FROM ids ORDER BY ord)"""  # noqa: S608
    return text
