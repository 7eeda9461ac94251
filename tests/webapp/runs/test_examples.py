"""Every bundled example runs end to end on the Simulator through real workers."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Personas, WorkerPool
from tests.webapp.runs.helpers import simulator, wait_for
from webapp.runs.models import Run, Step
from webapp.runs.services import do_start_run
from webapp.workflows.examples import load_examples

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

INPUTS = {
    "Research team": {"topic": "heat pumps in cold climates"},
    "Support triage": {"ticket": "I was charged twice for my invoice in March"},
    "Debate": {"question": "Cities should ban cars from their centres"},
    "Supervisor": {"ticket": "The export button gives an error", "question": "Four-day weeks"},
}


@pytest.fixture
def versions(personas: Personas, fake_llm: str, celery_worker_process: WorkerPool) -> Any:
    simulator(personas.team_a, fake_llm, model_names=["sim-small", "sim-large"])
    return {v.workflow.name: v for v in load_examples(personas.team_a)}


def test_examples_load_idempotently(versions: dict[str, Any], personas: Personas) -> None:
    assert set(versions) == set(INPUTS)
    again = {v.workflow.name: v for v in load_examples(personas.team_a)}
    assert {k: v.pk for k, v in again.items()} == {k: v.pk for k, v in versions.items()}


@pytest.mark.parametrize("name", list(INPUTS))
def test_example_runs_end_to_end(versions: dict[str, Any], name: str) -> None:
    run = wait_for(do_start_run(versions[name], INPUTS[name]), timeout_s=60)
    assert run.status == "succeeded", run.error
    assert run.outputs
    assert all(value for value in run.outputs.values()), run.outputs
    assert run.tokens_in > 0
    assert run.cost_usd > 0
    if name == "Research team":
        researchers = Step.objects.filter(run=run, node_id="research", item__isnull=False)
        assert researchers.count() == 3
        assert Step.objects.filter(run=run, node_id="critic").count() == 2  # two loop rounds
    if name == "Supervisor":
        children = Run.objects.filter(parent_run=run)
        assert sorted(c.workflow.name for c in children) == ["Debate", "Support triage"]
        assert all(c.status == "succeeded" for c in children)
