"""B6: fairness. One team floods 1,000 runs; how long do another team's runs wait?

    python -m bench.b6_fairness [--flood 1000] [--quiet 10] [--latency-ms 300]
    python -m bench.b6_fairness --also-unfair   # the same with fairness turned off

Workflow (both teams): input -> llm (the fake server answers after
`--latency-ms`) -> output. Workers as `make run` starts them: io threads:200, cpu
prefork:2, beat. Each team has the default quota (TEAM_MAX_CONCURRENT_RUNS = 20
concurrent runs; extra runs wait queued) and its own queue shard (QUEUE_SHARDS).

1. Alone: the quiet team starts `--quiet` runs at once; we record each run's
   duration (created -> finished) and its steps' queue wait (queued -> started).
2. Flood: the flood team starts `--flood` runs as fast as it can; once they are
   all started, the quiet team starts `--quiet` runs again, measured the same way.

Printed: the quiet team's run duration and step queue wait (p50, p95, max) alone
and under the flood, and the ratio flood / alone of the p95 run duration. With
`--also-unfair`, the same again with no concurrent-run limit and one queue per
kind (QUEUE_SHARDS=1, TEAM_MAX_CONCURRENT_RUNS=0): what the flood costs without
the quotas. The flood is cancelled after each measurement.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import TYPE_CHECKING, Any

from bench import harness

if TYPE_CHECKING:
    from webapp.accounts.models import Team
    from webapp.workflows.models import WorkflowVersion


def chain(latency_ms: int) -> dict[str, Any]:
    prompt = f"[[fake:latency_ms={latency_ms}]] hello"
    return harness.graph(
        [
            harness.node("in", "input"),
            harness.node("ask", "llm", {"prompt": prompt, "max_tokens": 8}),
            harness.node("out", "output"),
        ],
        [harness.edge("in", "out", "ask", "in"), harness.edge("ask", "text", "out", "in")],
    )


def team(slug: str, fake_url: str) -> Team:
    from webapp.accounts.models import Team

    found, _ = Team.objects.get_or_create(slug=slug, defaults={"name": slug})
    harness.give_simulator(found, fake_url)
    return found


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def quiet_runs(version: WorkflowVersion, count: int, timeout_s: float) -> dict[str, list[float]]:
    """Start `count` runs at once; wait for all; durations and queue waits in ms."""
    from webapp.runs.models import RUN_TERMINAL, Run, Step
    from webapp.runs.services import do_start_run

    runs = [do_start_run(version, {}) for _ in range(count)]
    ids = [r.pk for r in runs]
    deadline = time.monotonic() + timeout_s
    while Run.objects.filter(pk__in=ids).exclude(status__in=RUN_TERMINAL).exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the quiet team's runs did not finish in {timeout_s:g} s")
        time.sleep(0.05)
    rows = Run.objects.filter(pk__in=ids).values_list("status", "created_at", "finished_at")
    failed = [status for status, _, _ in rows if status != "succeeded"]
    if failed:
        raise RuntimeError(f"quiet runs did not all succeed: {failed}")
    durations = [(f - c).total_seconds() * 1000 for _, c, f in rows if f is not None]
    waits = list(
        Step.objects.filter(run_id__in=ids, queue_wait_ms__isnull=False).values_list(
            "queue_wait_ms", flat=True
        )
    )
    return {"duration": durations, "wait": [w for w in waits if w is not None]}


def flood(version: WorkflowVersion, count: int) -> tuple[list[int], float]:
    from webapp.runs.services import do_start_run

    started = time.monotonic()
    ids = [do_start_run(version, {}).pk for _ in range(count)]
    return ids, time.monotonic() - started


def cancel_all(ids: list[int]) -> None:
    from webapp.runs.models import RUN_TERMINAL, Run

    # Newest first: cancelling a waiting run frees no slot, so none is admitted.
    unfinished = Run.objects.filter(pk__in=ids).exclude(status__in=RUN_TERMINAL)
    for run_id in unfinished.order_by("-pk").values_list("pk", flat=True):
        harness.cancel_run(run_id)


def measure(args: argparse.Namespace, label: str, env: dict[str, str]) -> dict[str, Any]:
    from django.conf import settings

    from webapp.runs.models import Run, RunStatus
    from webapp.runs.quotas import do_set_quota

    for name, value in env.items():  # this process starts runs too
        setattr(settings, name, int(value))
    with harness.Services() as services:
        fake = services.start_fakellm(latency_ms=0)
        services.start_worker("io", "threads", 200, extra_env=env)
        services.start_worker("cpu", "prefork", 2, extra_env=env)
        services.start_beat()
        quiet = team("bench-quiet", fake)
        noisy = team("bench-flood", fake)
        limit = int(env.get("TEAM_MAX_CONCURRENT_RUNS", settings.TEAM_MAX_CONCURRENT_RUNS))
        for t in (quiet, noisy):
            do_set_quota(t.pk, max_concurrent_runs=limit, monthly_budget_usd=None)
        q_version = harness.publish(quiet, "fair-quiet", chain(args.latency_ms))
        f_version = harness.publish(noisy, "fair-flood", chain(args.latency_ms))
        quiet_runs(q_version, 2, 120)  # warm-up
        alone = quiet_runs(q_version, args.quiet, 300)
        ids, flood_s = flood(f_version, args.flood)
        waiting = Run.objects.filter(pk__in=ids, status=RunStatus.QUEUED).count()
        try:
            under = quiet_runs(q_version, args.quiet, 900)
        finally:
            cancel_all(ids)
    return {
        "label": label,
        "alone": alone,
        "under": under,
        "flood_s": flood_s,
        "waiting": waiting,
    }


def row(name: str, values: list[float]) -> list[str]:
    return [
        name,
        f"{statistics.median(values):.0f}",
        f"{pct(values, 0.95):.0f}",
        f"{max(values):.0f}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flood", type=int, default=1000, help="runs the flood team starts")
    parser.add_argument("--quiet", type=int, default=10, help="runs the quiet team starts")
    parser.add_argument("--latency-ms", type=int, default=300, help="fake LLM latency")
    parser.add_argument(
        "--also-unfair", action="store_true", help="also measure without quotas and shards"
    )
    args = parser.parse_args()
    harness.configure()
    harness.take_bench_lock()
    harness.flush_broker()
    print(f"B6 fairness: {args.flood} flood runs vs {args.quiet} quiet runs")
    print(f"machine: {harness.machine()}")
    configs: list[tuple[str, dict[str, str]]] = [("fair (defaults)", {})]
    if args.also_unfair:
        configs.append(("unfair", {"QUEUE_SHARDS": "1", "TEAM_MAX_CONCURRENT_RUNS": "0"}))
    for label, env in configs:
        result = measure(args, label, env)
        print(
            f"\n{label}: flood of {args.flood} runs started in {result['flood_s']:.1f} s; "
            f"{result['waiting']} of them waiting queued when the quiet team started"
        )
        print(
            harness.table(
                ["quiet team, ms", "p50", "p95", "max"],
                [
                    row("run duration, alone", result["alone"]["duration"]),
                    row("run duration, under flood", result["under"]["duration"]),
                    row("step queue wait, alone", result["alone"]["wait"]),
                    row("step queue wait, under flood", result["under"]["wait"]),
                ],
            )
        )
        ratio = pct(result["under"]["duration"], 0.95) / pct(result["alone"]["duration"], 0.95)
        print(f"RATIO {label}: quiet team's p95 run duration under flood / alone = {ratio:.2f}")


if __name__ == "__main__":
    main()
