"""`manage.py run_workflow`: validate, run on the real workers, follow, report."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.conftest import ROOT, Personas, WorkerPool
from tests.webapp.runs.helpers import edge, graph, node, simulator
from webapp.runs.models import Run

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def team(personas: Personas, fake_llm: str, celery_worker_process: WorkerPool) -> Any:
    simulator(personas.team_a, fake_llm, model_names=["sim-small", "sim-large"])
    return personas.team_a


def test_runs_an_example_file_and_prints_progress_and_a_report(team: Any) -> None:
    out = StringIO()
    call_command(
        "run_workflow", str(ROOT / "examples" / "support_triage.json"), "--team", "team-a",
        "--input", "ticket=I was charged twice", "--follow", stdout=out,
    )  # fmt: skip
    text = out.getvalue()
    assert "started   classify" in text
    assert "finished  classify" in text
    assert "run succeeded" in text
    assert "Totals:" in text
    assert "cost $" in text
    assert '"reply"' in text
    assert "(simulated)" in text
    assert "LLM output is SIMULATED (provider Simulator)" in text
    assert Run.objects.get().status == "succeeded"


def test_invalid_file_lists_every_problem_and_runs_nothing(team: Any, tmp_path: Path) -> None:
    bad = graph([node("in", "input"), node("x", "nope")], [edge("in", "out", "x", "in")])
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    err = StringIO()
    with pytest.raises(CommandError, match="problem"):
        call_command("run_workflow", str(path), "--team", "team-a", stderr=err)
    assert "unknown_node_type at x" in err.getvalue()
    assert not Run.objects.exists()


def test_bad_input_and_failed_runs_exit_non_zero(team: Any, tmp_path: Path) -> None:
    doc = graph(
        [
            node("in", "input", {"key": "n"}),
            node("t", "template", {"template": "{{ input.missing }}"}),
            node("out", "output"),
        ],
        [edge("in", "out", "t", "in"), edge("t", "text", "out", "in")],
        inputs={"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
    )
    path = tmp_path / "fails.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(CommandError, match="invalid input"):
        call_command("run_workflow", str(path), "--team", "team-a", "--input", "n=abc")
    with pytest.raises(CommandError, match="failed"):
        call_command(
            "run_workflow",
            str(path),
            "--team",
            "team-a",
            "--input",
            "n=3",
            "--follow",
            stdout=StringIO(),
        )
