"""Group commit of map items (webapp/runs/groupcommit.py): many items' claims
and records in one transaction per run, with the same fencing as one at a time.

The database tests call the batch functions in the test process with no worker
consuming the test queues (as test_runnext.py does), so queued items stay queued
until the test claims them.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Personas, WorkerPool
from tests.webapp.runs.helpers import edge, graph, node, publish
from webapp.runs import groupcommit, worker
from webapp.runs.models import Run, RunEvent, Step, StepStatus
from webapp.runs.services import do_start_run


@pytest.fixture(scope="module")
def no_consumer(celery_worker_process: WorkerPool) -> Iterator[None]:
    from webapp.celery import app

    celery_worker_process.stop()
    yield
    app.control.purge()
    celery_worker_process.start()


def map_graph(concurrency: int) -> dict[str, Any]:
    body = {"type": "template", "config": {"template": "<{{ item }}>"}}
    return graph(
        [
            node("in", "input", {"key": "items"}),
            node("map", "map", {"body": body, "max_concurrency": concurrency}),
            node("out", "output"),
        ],
        [edge("in", "out", "map", "items"), edge("map", "results", "out", "in")],
        inputs={"type": "object", "properties": {"items": {"type": "array"}}},
    )


def started_map(personas: Personas, items: list[str], concurrency: int) -> tuple[Run, list[int]]:
    """A run whose input step is recorded: its map expanded, `concurrency` items queued."""
    run = do_start_run(publish(personas.team_a, "map", map_graph(concurrency)), {"items": items})
    worker.execute(Step.objects.get(run=run, node_id="in").pk, "test-worker")
    queued = Step.objects.filter(run=run, item__isnull=False, status=StepStatus.QUEUED)
    return run, list(queued.order_by("item").values_list("pk", flat=True))


def run_all(attempts: list[worker.Attempt]) -> list[tuple[int, worker.Attempt, Any]]:
    return [(a.step_id, a, asyncio.run(worker.run_attempt(a))) for a in attempts]


def finish(run: Run) -> None:
    """Execute the steps after the map (queued for a broker nobody consumes here)."""
    for pk in Step.objects.filter(run=run, status=StepStatus.QUEUED).values_list("pk", flat=True):
        worker.execute(pk, "test-worker")
    run.refresh_from_db()


def assert_gap_free(run: Run) -> None:
    seqs = list(RunEvent.objects.filter(run=run).order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_consumer")
def test_a_batch_claims_and_records_many_items_and_finishes_the_map(
    personas: Personas,
) -> None:
    run, queued = started_map(personas, ["a", "b", "c", "d"], concurrency=4)
    assert len(queued) == 4

    claimed = worker.claim_items([(pk, "w1") for pk in queued])
    assert set(claimed) == set(queued)
    attempts = [a for a in claimed.values() if a is not None]
    assert len(attempts) == 4
    assert len({a.token for a in attempts}) == 4  # a lease (fencing token) each
    rows = Step.objects.filter(pk__in=queued)
    assert set(rows.values_list("status", flat=True)) == {StepStatus.RUNNING}
    assert set(rows.values_list("worker", flat=True)) == {"w1"}
    started = RunEvent.objects.filter(run=run, type="step.started", payload__step_id__in=queued)
    assert started.count() == 4

    # A second delivery of the same steps claims nothing.
    assert not any(worker.claim_items([(pk, "w2") for pk in queued]).values())

    worker.record_items(run_all(attempts))
    assert Step.objects.get(run=run, node_id="map", item=None).status == StepStatus.SUCCEEDED
    finish(run)
    assert run.status == "succeeded", run.error
    assert run.outputs == {"result": ["<a>", "<b>", "<c>", "<d>"]}
    assert set(rows.values_list("status", flat=True)) == {StepStatus.SUCCEEDED}
    assert_gap_free(run)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_consumer")
def test_a_batch_record_discards_a_lost_lease_and_fills_freed_slots(
    personas: Personas,
) -> None:
    run, queued = started_map(personas, ["a", "b", "c", "d", "e"], concurrency=2)
    assert len(queued) == 2  # the other three wait for a slot
    claimed = worker.claim_items([(pk, "w1") for pk in queued])
    first, second = (claimed[pk] for pk in queued)
    assert first is not None
    assert second is not None
    second.token = uuid.uuid4()  # as if its lease expired and another attempt took it

    worker.record_items(run_all([first, second]))
    statuses = dict(Step.objects.filter(pk__in=queued).values_list("pk", "status"))
    assert statuses == {first.step_id: StepStatus.SUCCEEDED, second.step_id: StepStatus.RUNNING}
    # first's slot went to the next pending item, queued for the broker.
    now_queued = Step.objects.filter(run=run, item__isnull=False, status=StepStatus.QUEUED)
    assert list(now_queued.values_list("item", flat=True)) == [2]
    run.refresh_from_db()
    assert run.status == "running"
    assert_gap_free(run)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_consumer")
def test_item_deliveries_through_the_committer_run_the_whole_map(personas: Personas) -> None:
    run, queued = started_map(personas, [str(i) for i in range(6)], concurrency=3)
    while queued:
        threads = [
            threading.Thread(target=worker.execute_items, args=([pk], "w1")) for pk in queued
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        queued = list(
            Step.objects.filter(run=run, item__isnull=False, status=StepStatus.QUEUED)
            .order_by("item")
            .values_list("pk", flat=True)
        )
    finish(run)
    assert run.status == "succeeded", run.error
    assert run.outputs == {"result": [f"<{i}>" for i in range(6)]}
    assert Step.objects.filter(run=run, item__isnull=False).count() == 6  # none twice
    assert_gap_free(run)


# ---- the committer alone (no database) ---------------------------------------------


def blocking_committer() -> tuple[groupcommit.Committer, threading.Event, list[list[Any]]]:
    """A committer whose first claim round waits for `release`, so that the
    operations submitted meanwhile are taken together in the next round."""
    release = threading.Event()
    rounds: list[list[Any]] = []

    def claim_many(args: list[tuple[Any, ...]]) -> dict[int, Any]:
        rounds.append(list(args))
        if len(rounds) == 1:
            release.wait(10)
        if any(key == "boom" for key, *_ in args):
            raise RuntimeError("database unavailable")
        return {key: f"attempt {key}" for key, *_ in args}

    def record_many(args: list[tuple[Any, ...]]) -> None:
        rounds.append(list(args))

    return groupcommit.Committer(claim_many, record_many), release, rounds


def submit_in_threads(committer: groupcommit.Committer, keys: list[Any]) -> dict[Any, Any]:
    results: dict[Any, Any] = {}

    def one(index: int, key: Any) -> None:
        try:
            results[index] = committer.enqueue("claim", key, "w").result()
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=one, args=(i, k)) for i, k in enumerate(keys)]
    for thread in threads:
        thread.start()
    results["threads"] = threads
    return results


def test_operations_waiting_together_share_one_round_and_a_duplicate_gets_none() -> None:
    committer, release, rounds = blocking_committer()
    first = submit_in_threads(committer, [1])
    while not rounds:  # round 1 holds the committer
        threading.Event().wait(0.01)
    later = submit_in_threads(committer, [2, 3, 2])
    threading.Event().wait(0.2)  # let all three queue behind round 1
    release.set()
    for thread in first.pop("threads") + later.pop("threads"):
        thread.join(10)
    assert first == {0: "attempt 1"}
    assert len(rounds) == 2
    assert sorted(k for k, _ in rounds[1]) == [2, 2, 3]
    assert later[1] == "attempt 3"
    assert {later[0], later[2]} == {"attempt 2", None}  # one claim, not two


def test_a_failed_round_hands_its_error_to_every_operation_in_it() -> None:
    committer, release, _rounds = blocking_committer()
    release.set()
    assert committer.enqueue("claim", 7, "w").result() == "attempt 7"
    results = submit_in_threads(committer, ["boom"])
    for thread in results.pop("threads"):
        thread.join(10)
    assert isinstance(results[0], RuntimeError)
    assert committer.enqueue("claim", 8, "w").result() == "attempt 8"  # the committer lives on


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_consumer")
def test_a_chunk_delivery_runs_its_items_and_a_second_delivery_runs_none(
    personas: Personas,
) -> None:
    run, queued = started_map(personas, [str(i) for i in range(7)], concurrency=4)
    assert len(queued) == 4
    worker.execute_items(queued, "w1")
    done = Step.objects.filter(pk__in=queued)
    assert set(done.values_list("status", flat=True)) == {StepStatus.SUCCEEDED}
    finished = dict(done.values_list("pk", "finished_at"))
    worker.execute_items(queued, "w2")  # redelivered: nothing runs again
    assert dict(done.values_list("pk", "finished_at")) == finished
    assert set(done.values_list("worker", flat=True)) == {"w1"}
    rest = list(
        Step.objects.filter(run=run, item__isnull=False, status=StepStatus.QUEUED)
        .order_by("item")
        .values_list("pk", flat=True)
    )
    assert len(rest) == 3  # the freed slots went to the pending items
    worker.execute_items(rest, "w1")
    finish(run)
    assert run.status == "succeeded", run.error
    assert run.outputs == {"result": [f"<{i}>" for i in range(7)]}
    assert_gap_free(run)
