"""B2: concurrency. A `map` over N items, each an `llm` call with 1 s latency.

    python -m bench.b2_concurrency [--n 1000] [--pools threads:200]
    python -m bench.b2_concurrency --n 10000 --timeout 900
    python -m bench.b2_concurrency --pools threads:200 prefork:8 gevent:200

Graph: input(items) -> map(body: llm, max_concurrency = min(N, 1000), the
map's bound) -> output. The fake LLM server answers every call after 1 s
(`--latency-ms`). Workers as `make run` starts them: an io worker (`--pools`:
pool:concurrency, default threads:200 = QUORUM_IO_CONCURRENCY) and a cpu worker
(prefork, 2). Measures the makespan (run.started_at -> run.finished_at) against
the floor: the same N calls made directly, all at once, with asyncio.gather on
the provider's `chat` (orchestration.providers.build), in this process.

Also: peak RSS of the worker process trees, peak connections to the bench
database (sampled every 100 ms, by application_name), peak backends waiting on a
lock, and the no-loss checks: every item step succeeded exactly once (no two
non-superseded steps for one (node, iteration, item)), N LLM calls recorded, N
requests seen by the fake server, N results.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import re
import shutil
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bench import harness

if TYPE_CHECKING:
    from webapp.accounts.models import Team

MAP_LIMIT = 1000  # MapConfig.max_concurrency's upper bound
CPU_CONCURRENCY = 2  # QUORUM_CPU_CONCURRENCY in the Makefile
IO_PROCESSES = 2  # QUORUM_IO_PROCESSES in the Makefile
POOLS = {"threads", "prefork", "gevent", "eventlet", "solo"}


def map_graph(concurrency: int) -> dict[str, Any]:
    body = {"type": "llm", "config": {"prompt": "{{ item }}", "max_tokens": 32, "temperature": 0}}
    return harness.graph(
        [
            harness.node("in", "input", {"key": "items"}),
            harness.node(
                "map",
                "map",
                {"body": body, "max_concurrency": concurrency, "on_item_error": "collect"},
            ),
            harness.node("out", "output"),
        ],
        [
            harness.edge("in", "out", "map", "items"),
            harness.edge("map", "results", "out", "in"),
        ],
        inputs={
            "type": "object",
            "properties": {"items": {"type": "array"}},
            "required": ["items"],
        },
    )


def items(n: int) -> list[str]:
    return [f"item {i}" for i in range(n)]


# ---- the floor -----------------------------------------------------------------


def floor_seconds(team: Team, n: int) -> tuple[float, int]:
    """(seconds for N direct provider calls at once, failures)."""
    from orchestration.providers import ChatRequest, Message, build
    from webapp.providers.models import ProviderSetting
    from webapp.providers.services import to_config

    provider = build(to_config(ProviderSetting.objects.get(team=team, name="Simulator")))

    async def one(text: str) -> None:
        request = ChatRequest(
            model="sim-small",
            messages=(Message("user", text),),
            temperature=0,
            max_tokens=32,
        )
        await provider.chat(request)

    async def everything() -> tuple[float, int]:
        started = time.perf_counter()
        outcomes = await asyncio.gather(*(one(t) for t in items(n)), return_exceptions=True)
        failures = sum(isinstance(o, BaseException) for o in outcomes)
        return time.perf_counter() - started, failures

    return asyncio.run(everything())


# ---- the engine ----------------------------------------------------------------


@dataclass
class Measured:
    pool: str
    n: int
    status: str
    makespan_s: float | None = None
    wall_s: float = 0.0
    peaks: harness.Peaks = field(default_factory=harness.Peaks)
    checks: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    note: str = ""
    trace: list[list[str]] = field(default_factory=list)


def terminal_items(run_id: int) -> int:
    from webapp.runs.models import Step

    return Step.objects.filter(
        run_id=run_id,
        item__isnull=False,
        status__in=["succeeded", "failed", "cancelled", "skipped"],
    ).count()


def fake_stats(url: str, reset: bool = False) -> dict[str, Any]:
    if reset:
        request = urllib.request.Request(url + "/_fake/reset", method="POST")  # noqa: S310
        urllib.request.urlopen(request, timeout=5).read()  # noqa: S310 (our server)
    with urllib.request.urlopen(url + "/_fake/stats", timeout=5) as response:  # noqa: S310
        stats: dict[str, Any] = json.loads(response.read())
    return stats


def check_run(run_id: int, n: int, fake_url: str) -> tuple[dict[str, Any], list[str]]:
    """Figures and problems of a finished run: nothing lost, nothing twice."""
    from django.db.models import Count

    from webapp.runs.models import LLMCallRecord, Run, Step

    run = Run.objects.get(pk=run_id)
    item_steps = Step.objects.filter(run_id=run_id, item__isnull=False)
    latest = item_steps.filter(superseded=False)
    duplicates = (
        latest.values("node_id", "iteration", "item").annotate(c=Count("id")).filter(c__gt=1)
    )
    by_status = dict(
        latest.values_list("status").annotate(c=Count("id")).values_list("status", "c")
    )
    results = ((run.outputs or {}).get("result")) or []
    figures: dict[str, Any] = {
        "item steps (latest)": latest.count(),
        "by status": by_status,
        "superseded attempts": item_steps.filter(superseded=True).count(),
        "duplicates": duplicates.count(),
        "llm calls recorded": LLMCallRecord.objects.filter(run_id=run_id).count(),
        "fake server requests": fake_stats(fake_url).get("requests"),
        "results": len(results),
        "non-null results": sum(r is not None for r in results),
    }
    waits = [w for w in latest.values_list("queue_wait_ms", flat=True) if w is not None]
    latencies = [w for w in latest.values_list("latency_ms", flat=True) if w is not None]
    for label, values in (("queue wait ms", waits), ("step latency ms", latencies)):
        if values:
            values.sort()
            figures[label] = (
                f"p50 {values[len(values) // 2]:.0f}, p95 {values[int(len(values) * 0.95)]:.0f}"
                f", max {values[-1]:.0f}"
            )
    problems = []
    if figures["item steps (latest)"] != n:
        problems.append(f"{figures['item steps (latest)']} item steps, expected {n}")
    if by_status.get("succeeded", 0) != n:
        problems.append(f"item steps by status {by_status}, expected {n} succeeded")
    if figures["duplicates"]:
        problems.append(f"{figures['duplicates']} items have more than one latest step")
    if figures["llm calls recorded"] != n:
        problems.append(f"{figures['llm calls recorded']} LLM calls recorded, expected {n}")
    if figures["results"] != n or figures["non-null results"] != n:
        problems.append(f"{figures['non-null results']}/{figures['results']} results, expected {n}")
    return figures, problems


def measure(
    team: Team,
    fake_url: str,
    pool: str,
    concurrency: int,
    n: int,
    timeout_s: float,
    stall_s: float,
    worker_env: dict[str, str],
    trace_workers: bool = False,
    max_rss_gib: float = 8.0,
    io_processes: int = IO_PROCESSES,
) -> Measured:
    """Start fresh workers with this io pool, warm up, run the map over N, check."""
    measured = Measured(f"{pool}:{concurrency}", n, "not run")
    if pool == "gevent":
        if importlib.util.find_spec("gevent") is None:
            measured.status = "skipped"
            measured.note = "gevent is not installed"
            return measured
    warm = harness.publish(team, "b2-warm", map_graph(50))
    version = harness.publish(team, "b2-map", map_graph(min(n, MAP_LIMIT)))
    harness.flush_broker()
    unfinished: int | None = None
    measured_run: int | None = None
    probes = tempfile.mkdtemp(prefix="quorum-bench-trace-") if trace_workers else ""
    env = worker_env | ({"BENCH_TRACE": probes} if probes else {})
    since = 0.0
    with harness.Services() as services:
        services.start_worker("cpu", "prefork", CPU_CONCURRENCY, extra_env=env)
        io_worker = services.start_worker("io", pool, concurrency, extra_env=env)
        for _ in range(io_processes - 1):  # as `make run` starts QUORUM_IO_PROCESSES of them
            services.start_worker("io", pool, concurrency, extra_env=env)
        services.start_beat()
        log_path = io_worker.log.name
        warm_run = harness.start_and_wait(
            warm, {"items": items(50)}, timeout_s=120, stall_s=60, progress=terminal_items
        )
        if warm_run.status != "succeeded":
            measured.status = f"warm-up {warm_run.status}"
            unfinished = warm_run.run_id
        else:
            fake_stats(fake_url, reset=True)
            since = time.time()
            limit = int(max_rss_gib * 2**30)
            with harness.Sampler(services.worker_pids(), rss_limit_bytes=limit) as sampler:
                result = harness.start_and_wait(
                    version,
                    {"items": items(n)},
                    timeout_s=timeout_s,
                    poll_s=0.1,
                    stall_s=stall_s,
                    progress=terminal_items,
                    abort=sampler.exceeded,
                )
            measured.peaks = sampler.peaks
            measured.status = result.status
            measured.makespan_s = result.makespan_s
            measured.wall_s = result.wall_s
            measured_run = result.run_id
            if result.status != "succeeded":
                measured.note = f"{terminal_items(result.run_id)}/{n} items terminal. "
                unfinished = result.run_id
    # The workers are stopped: a stuck transaction cannot hold the run's lock any more.
    if unfinished is not None:
        measured.note += _log_errors(log_path)
        harness.cancel_run(unfinished)
    if measured_run is not None:
        measured.checks, measured.problems = check_run(measured_run, n, fake_url)
    if probes:
        from bench import trace

        measured.trace = trace.summary(probes, since)
        if not os.environ.get("BENCH_KEEP_TRACE"):
            shutil.rmtree(probes, ignore_errors=True)
        else:
            print(f"trace kept in {probes}")
    return measured


_EXCEPTION_LINE = re.compile(r"^([\w.]+(?:Error|Exception|Operation|Timeout)): (.*)$")


def _log_errors(path: str, since: str = "=== ", limit: int = 3) -> str:
    """The most frequent exceptions in a worker log's last session (why a pool failed)."""
    try:
        with open(path, errors="replace") as handle:
            text = handle.read()
    except OSError:
        return ""
    session = text[text.rfind(since) :] if since in text else text
    counts: Counter[str] = Counter()
    for line in session.splitlines():
        match = _EXCEPTION_LINE.match(line.strip())
        if match:
            counts[f"{match.group(1)}: {match.group(2)[:160]}"] += 1
    return "; ".join(f"{n} x {what}" for what, n in counts.most_common(limit))


# ---- main ------------------------------------------------------------------------


def parse_pool(text: str) -> tuple[str, int]:
    pool, _, number = text.partition(":")
    if pool not in POOLS or not number.isdigit():
        raise argparse.ArgumentTypeError(f"expected pool:concurrency (pools: {sorted(POOLS)})")
    return pool, int(number)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.b2_concurrency", description=__doc__)
    parser.add_argument("--n", type=int, nargs="+", default=[1000], help="items (default 1000)")
    parser.add_argument(
        "--pools",
        type=parse_pool,
        nargs="+",
        default=None,
        help="io worker pool:concurrency, e.g. threads:200 prefork:8 gevent:200",
    )
    parser.add_argument(
        "--io-concurrency",
        type=int,
        default=200,
        help="concurrency of the threads pool when --pools is not given (default 200)",
    )
    parser.add_argument(
        "--io-processes",
        type=int,
        default=IO_PROCESSES,
        help=f"io worker processes, each with the --pools pool (default {IO_PROCESSES}, "
        "as make run)",
    )
    parser.add_argument("--latency-ms", type=int, default=1000, help="fake LLM latency")
    parser.add_argument("--timeout", type=float, default=900.0, help="per engine run (s)")
    parser.add_argument(
        "--stall",
        type=float,
        default=400.0,
        help="give up when no item ends for this long (s; default above the reaper's 300 s "
        "re-send of lost queued steps)",
    )
    parser.add_argument(
        "--db-pool-max",
        type=int,
        default=None,
        help="DB_POOL_MAX for the workers (default: the settings' default, 10 per process)",
    )
    parser.add_argument(
        "--max-rss-gib",
        type=float,
        default=8.0,
        help="abandon a run when the workers' RSS exceeds this (GiB; protects the machine)",
    )
    parser.add_argument(
        "--trace", action="store_true", help="timing probes in the workers (bench/trace.py)"
    )
    args = parser.parse_args(argv)
    worker_env = {"DB_POOL_MAX": str(args.db_pool_max)} if args.db_pool_max else {}
    pools: list[tuple[str, int]] = args.pools or [("threads", args.io_concurrency)]

    harness.configure()
    team = harness.bench_team()
    print(f"B2 concurrency: map over N llm calls with {args.latency_ms} ms latency")
    print(f"machine: {harness.machine()}")
    if worker_env:
        print(f"worker environment: {worker_env}")
    rows: list[list[str]] = []
    details: list[Measured] = []
    with harness.Services() as services:
        fake_url = services.start_fakellm(latency_ms=args.latency_ms)
        harness.give_simulator(team, fake_url)
        floors: dict[int, float] = {}
        for n in args.n:
            floor_seconds(team, min(n, 100))  # warm-up
            seconds, failures = floor_seconds(team, n)
            floors[n] = seconds
            note = f" ({failures} failed)" if failures else ""
            print(f"floor N={n}: {seconds:.2f} s for {n} direct asyncio calls{note}")
        for n in args.n:
            for pool, concurrency in pools:
                print(f"engine N={n}, io pool {pool}:{concurrency} ...", flush=True)
                measured = measure(
                    team,
                    fake_url,
                    pool,
                    concurrency,
                    n,
                    args.timeout,
                    args.stall,
                    worker_env,
                    args.trace,
                    args.max_rss_gib,
                    args.io_processes,
                )
                details.append(measured)
                ratio = (
                    f"{measured.makespan_s / floors[n]:.2f}"
                    if measured.makespan_s is not None
                    else "-"
                )
                ok = "yes" if measured.status == "succeeded" and not measured.problems else "NO"
                peaks = measured.peaks
                rows.append(
                    [
                        str(n),
                        measured.pool,
                        measured.status,
                        f"{measured.makespan_s:.1f}" if measured.makespan_s else "-",
                        f"{floors[n]:.2f}",
                        ratio,
                        f"{peaks.rss_bytes / 2**20:.0f}",
                        str(peaks.db_connections),
                        str(peaks.lock_waiters),
                        ok,
                    ]
                )
                print(f"  {measured.status}, makespan {rows[-1][3]} s, ratio {ratio}", flush=True)

    print()
    print(
        harness.table(
            [
                "N",
                "io pool",
                "status",
                "makespan s",
                "floor s",
                "ratio",
                "peak worker RSS MiB",
                "peak DB conns",
                "peak lock waits",
                "nothing lost",
            ],
            rows,
        )
    )
    for measured in details:
        print(f"\nN={measured.n}, {measured.pool}:")
        for key, value in measured.checks.items():
            print(f"  {key}: {value}")
        if measured.peaks.db_by_app:
            print(f"  peak DB connections by process: {measured.peaks.db_by_app}")
        for problem in measured.problems:
            print(f"  PROBLEM: {problem}")
        if measured.note:
            print(f"  note: {measured.note}")
        if measured.trace:
            print("  where an item's time goes in the workers (ms; bench/trace.py probes):")
            headers = ["phase", "calls", "mean", "median", "max"]
            print("  " + harness.table(headers, measured.trace).replace("\n", "\n  "))
    print()
    for measured in details:
        if measured.makespan_s is None:
            print(f"RATIO makespan / floor at N={measured.n}, io {measured.pool}: not measured")
            continue
        factor = measured.makespan_s / floors[measured.n]
        target = ""
        if measured.n == 1000:
            target = f" (target <= 1.5): {'met' if factor <= 1.5 else 'MISSED'}"
        print(
            f"RATIO makespan / floor at N={measured.n}, io {measured.pool} = {factor:.2f}{target}"
        )
    finished = [m for m in details if m.makespan_s is not None and m.n == 1000]
    if len(finished) > 1:
        best = min(finished, key=lambda m: m.makespan_s or 0.0)
        print(f"fastest io pool at N=1000: {best.pool} ({best.makespan_s:.1f} s)")


if __name__ == "__main__":
    main()
