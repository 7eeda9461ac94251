"""Helpers for execution tests: build graphs, publish, wait for runs."""

from __future__ import annotations

import time
from typing import Any

from orchestration.build import edge, node  # noqa: F401 (re-exported for callers)
from webapp.accounts.models import Team
from webapp.providers.models import ProviderKind
from webapp.providers.services import do_save_provider
from webapp.runs import reaper
from webapp.runs.models import RUN_TERMINAL, Run, Step
from webapp.workflows.models import WorkflowVersion
from webapp.workflows.services import do_create_workflow, do_publish


def graph(
    nodes: list[dict[str, Any]],
    edges: list[dict[str, Any]],
    output: str = "out",
    port: str = "out",
    inputs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "inputs": inputs or {"type": "object", "properties": {}},
        "nodes": nodes,
        "edges": edges,
        "outputs": {"result": {"node": output, "port": port}},
    }


def simulator(team: Team, url: str, **fields: Any) -> None:
    """Give `team` a Simulator provider at the fake server `url`."""
    prices = {"input_per_mtok": "1", "output_per_mtok": "2"}
    settings: dict[str, Any] = {
        "base_url": url + "/v1",
        "model_names": ["sim-small"],
        "simulated": True,
        "max_concurrency": 100,
        "price_overrides": {"sim-small": prices, "sim-large": prices},
    }
    do_save_provider(team, "Simulator", kind=ProviderKind.OPENAI, **(settings | fields))


def publish(team: Team, name: str, document: dict[str, Any]) -> WorkflowVersion:
    workflow = do_create_workflow(team, name, graph=document)
    return do_publish(workflow)


def wait_for(run: Run, timeout_s: float = 30.0, reap: bool = False) -> Run:
    """Poll until `run` is terminal; with `reap`, run the reaper like beat would."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status in RUN_TERMINAL:
            return run
        if reap:
            reaper.reap()
        time.sleep(0.1)
    steps = list(Step.objects.filter(run=run).values_list("node_id", "item", "status", "error"))
    raise AssertionError(f"run {run.pk} still {run.status} after {timeout_s} s: {steps}")
