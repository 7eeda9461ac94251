"""Run a workflow from a JSON file or by id on the real workers, following it live.

    python manage.py run_workflow examples/research_team.json --input topic="solar power" --follow

A file is validated first (every problem listed, exit 1), then stored in the team
as a workflow named after the file (a new version when the graph changed).
Exit status: 0 when the run succeeds, 1 on invalid input or a failed run.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from orchestration.validation import validate
from webapp.accounts.models import Team
from webapp.runs.models import RUN_TERMINAL, Run, RunEvent, Step
from webapp.runs.services import RunInputError, do_start_run
from webapp.workflows.models import Workflow, WorkflowVersion
from webapp.workflows.services import do_create_workflow, do_publish, do_save_draft


def parse_inputs(pairs: list[str]) -> dict[str, Any]:
    """key=value pairs; values are JSON when they parse as JSON, else text."""
    inputs: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise CommandError(f"--input {pair!r}: expected key=value")
        try:
            inputs[key] = json.loads(raw)
        except json.JSONDecodeError:
            inputs[key] = raw
    return inputs


class Command(BaseCommand):
    help = "Validate and run a workflow (JSON file or workflow id), printing live progress."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("workflow", help="a workflow JSON file or a workflow id")
        parser.add_argument("--team", help="team slug (optional when only one team exists)")
        parser.add_argument("--input", action="append", default=[], metavar="KEY=VALUE")
        parser.add_argument("--follow", action="store_true", help="print progress until done")
        parser.add_argument("--timeout", type=float, default=600.0, help="seconds to follow")

    def handle(self, *args: Any, **options: Any) -> None:
        team = self._team(options["team"])
        version = self._version(team, options["workflow"])
        try:
            run = do_start_run(version, parse_inputs(options["input"]))
        except RunInputError as exc:
            for problem in exc.problems or []:
                self.stderr.write(f"  input: {problem.message}")
            raise CommandError(f"invalid input: {exc}") from None
        self.stdout.write(f"Run {run.pk} of {version} started.")
        if not options["follow"]:
            return
        run = self._follow(run, options["timeout"])
        self._report(run)
        if run.status != "succeeded":
            raise CommandError(f"run {run.pk} {run.status}: {run.error}")

    def _team(self, slug: str | None) -> Team:
        if slug:
            team = Team.objects.filter(slug=slug).first()
            if team is None:
                raise CommandError(f"no team with slug {slug!r}")
            return team
        teams = list(Team.objects.all()[:2])
        if len(teams) != 1:
            raise CommandError("several teams exist: choose one with --team <slug>")
        return teams[0]

    def _version(self, team: Team, ref: str) -> WorkflowVersion:
        path = Path(ref)
        if ref.isdigit() and not path.exists():
            workflow = Workflow.objects.filter(team=team, pk=int(ref)).first()
            if workflow is None:
                raise CommandError(f"no workflow {ref} in team {team.slug}")
            latest = workflow.latest_version()
            if latest is None:
                raise CommandError(f"workflow {workflow.name!r} has no published version")
            return latest
        if not path.is_file():
            raise CommandError(f"{ref}: no such file")
        try:
            document = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise CommandError(f"{ref}: not valid JSON ({exc})") from None
        graph = document.get("graph", document) if isinstance(document, dict) else document
        problems = [p for p in validate(graph) if p.severity == "error"]
        if problems:
            for problem in problems:
                where = problem.node_id or problem.edge_id or "graph"
                self.stderr.write(f"  {problem.code} at {where}: {problem.message}")
            raise CommandError(f"{ref}: {len(problems)} problem(s); nothing was run")
        name = document.get("name") if isinstance(document, dict) and "graph" in document else None
        return self._store(team, name or path.stem, graph)

    def _store(self, team: Team, name: str, graph: dict[str, Any]) -> WorkflowVersion:
        workflow = Workflow.objects.filter(team=team, name=name).first()
        if workflow is None:
            workflow = do_create_workflow(team, name, graph=graph)
        latest = workflow.latest_version()
        if latest is not None and latest.graph == graph:
            return latest
        do_save_draft(workflow, graph)
        return do_publish(workflow, message="from run_workflow")

    def _follow(self, run: Run, timeout_s: float) -> Run:
        seq, deadline = 0, time.monotonic() + timeout_s
        while True:
            for event in RunEvent.objects.filter(run=run, seq__gt=seq).order_by("seq"):
                seq = event.seq
                line = _describe(event)
                if line:
                    self.stdout.write(line)
            run.refresh_from_db()
            if (
                run.status in RUN_TERMINAL
                and not RunEvent.objects.filter(run=run, seq__gt=seq).exists()
            ):
                return run
            if time.monotonic() > deadline:
                raise CommandError(f"run {run.pk} still {run.status} after {timeout_s:g} s")
            time.sleep(0.2)

    def _report(self, run: Run) -> None:
        self.stdout.write("")
        self.stdout.write(f"Run {run.pk}: {run.status}")
        header = (
            f"{'node':<24} {'iter':>4} {'item':>4} {'status':<10} {'latency ms':>10} "
            f"{'tokens in/out':>14} {'cost USD':>10}"
        )
        self.stdout.write(header)
        for step in Step.objects.filter(run=run, superseded=False).order_by("id"):
            cost = f"{step.cost_usd:.6f}" if step.cost_usd is not None else "-"
            latency = f"{step.latency_ms:.0f}" if step.latency_ms is not None else "-"
            item = "-" if step.item is None else str(step.item)
            self.stdout.write(
                f"{step.node_id:<24} {step.iteration:>4} {item:>4} {step.status:<10} "
                f"{latency:>10} {f'{step.tokens_in}/{step.tokens_out}':>14} {cost:>10}"
            )
        elapsed = (
            (run.finished_at - run.started_at).total_seconds()
            if run.finished_at and run.started_at
            else 0
        )
        self.stdout.write(
            f"Totals: {run.step_count} steps, {elapsed:.2f} s, tokens {run.tokens_in} in / "
            f"{run.tokens_out} out, cost ${run.cost_usd:.6f}"
            + (f" ({run.unpriced_calls} unpriced calls)" if run.unpriced_calls else "")
        )
        simulated = run.llm_calls.filter(simulated=True).values_list("provider", flat=True)
        if simulated:
            names = ", ".join(sorted(set(simulated)))
            self.stdout.write(f"LLM output is SIMULATED (provider {names}), not a real model.")
        if run.outputs is not None:
            self.stdout.write("Outputs:")
            self.stdout.write(json.dumps(run.outputs, indent=2, ensure_ascii=False)[:20000])


def _describe(event: RunEvent) -> str:
    p = event.payload
    where = (
        f"{p.get('node_id', '')}"
        + (f"#{p['iteration']}" if p.get("iteration") else "")
        + (f"[{p['item']}]" if p.get("item") is not None else "")
    )
    stamp = event.ts.strftime("%H:%M:%S.%f")[:-3]
    match event.type:
        case "step.started" if "items" in p:
            return f"{stamp}  started   {where}: map over {p['items']} items"
        case "step.started":
            return f"{stamp}  started   {where} on {p.get('worker', '')}"
        case "step.succeeded":
            cost = p.get("cost_usd")
            return (
                f"{stamp}  finished  {where} in {p.get('latency_ms', 0):.0f} ms, tokens "
                f"{p.get('tokens_in', 0)}/{p.get('tokens_out', 0)}, "
                f"cost {('$' + cost) if cost else '-'}"
            )
        case "step.failed":
            return f"{stamp}  FAILED    {where}: {p.get('error')}"
        case "llm.call" if p.get("simulated"):
            return f"{stamp}  llm call  {where}: {p.get('provider')}/{p.get('model')} (simulated)"
        case "step.retrying":
            return f"{stamp}  retrying  {where} (attempt {p.get('attempt')}): {p.get('error')}"
        case "step.skipped":
            return f"{stamp}  skipped   {where} ({p.get('reason', '')})"
        case "run.succeeded" | "run.failed" | "run.cancelled":
            return f"{stamp}  run {event.type.split('.')[1]}"
    return ""
