"""B1: per-node overhead of the engine.

    python -m bench.b1_overhead [--nodes 100] [--repeats 5] [--profile]

A chain of `--nodes` steps (input -> passthrough x (nodes - 2) -> output) run
through the whole engine (do_start_run, Celery workers as `make run` starts them,
wait for succeeded), against, on the same broker and workers:
- a raw Celery chain of `--nodes` no-op tasks (`celery.chain(noop.si(), ...)`;
  the last one pushes a Redis key the bench waits on), and a "relay" (each no-op
  task sends the next one itself, as the engine's worker sends the next step);
- LangGraph: a StateGraph of `--nodes` no-op nodes in a chain, compiled with its
  Postgres checkpointer (PostgresSaver, psycopg 3, database
  `quorum_bench_langgraph`) and invoked with durability="sync" (a checkpoint is
  written before each next step starts); also without a checkpointer.
The measures run in rounds, one run of each per round, all while the workers
are up, so that each round's runs see the same machine state.

Prints ms per hop, the ratios of each round and the RATIOs engine/Celery (target <= 3) and
engine/LangGraph+Postgres (target < 1).

`--profile` instead runs the same chain in this process without Celery (the
step messages are kept in a local queue and executed one by one by
`webapp.runs.worker.execute`) under cProfile, and prints where a hop's time goes:
claim, node run, record (and advance, events), with SQL queries per phase, and
the CPU time per hop of the process and of the executing thread (the rest of
the process's is its publisher and supervisor threads).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import re
import shutil
import tempfile
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from itertools import pairwise
from typing import TYPE_CHECKING, Any, TypedDict

from bench import harness

if TYPE_CHECKING:
    from webapp.workflows.models import WorkflowVersion

LANGGRAPH_URL = harness.DATABASE_URL.rsplit("/", 1)[0] + "/quorum_bench_langgraph"
CPU_CONCURRENCY = 2  # QUORUM_CPU_CONCURRENCY in the Makefile
IO_CONCURRENCY = 200  # QUORUM_IO_CONCURRENCY in the Makefile


def chain_graph(nodes: int) -> dict[str, Any]:
    """input -> passthrough p1..p(nodes-2) -> output."""
    ids = ["in", *(f"p{i}" for i in range(1, nodes - 1)), "out"]
    types = ["input", *(["passthrough"] * (nodes - 2)), "output"]
    return harness.graph(
        [harness.node(i, t) for i, t in zip(ids, types, strict=True)],
        [harness.edge(a, "out", b, "in") for a, b in pairwise(ids)],
    )


# ---- the engine ----------------------------------------------------------------


def engine_runs(version: WorkflowVersion, repeats: int, timeout_s: float) -> list[float]:
    """Wall seconds of each run (before do_start_run -> run.finished_at)."""
    walls = []
    for _ in range(repeats):
        result = harness.start_and_wait(version, {}, timeout_s=timeout_s)
        if result.status != "succeeded":
            harness.cancel_run(result.run_id)
            raise RuntimeError(f"engine run {result.run_id} {result.status}: {result.error}")
        walls.append(result.wall_s)
    return walls


# ---- raw Celery ------------------------------------------------------------------


def celery_runs(kind: str, hops: int, repeats: int, timeout_s: float) -> list[float]:
    """Seconds from sending to the last task's signal, for `kind` chain or relay."""
    import redis
    from celery import chain

    from bench.tasks import noop, relay

    client = redis.Redis.from_url(harness.REDIS_URL)
    walls = []
    try:
        for _ in range(repeats):
            key = f"bench:b1:{uuid.uuid4().hex}"
            started = time.time()
            if kind == "chain":
                signatures = [noop.si().set(queue="cpu") for _ in range(hops - 1)]
                chain(*signatures, noop.si(key).set(queue="cpu")).apply_async()
            else:
                relay.apply_async(args=(hops, key, "cpu"), queue="cpu")
            reply = client.blpop([key], timeout=timeout_s)
            if reply is None:
                raise RuntimeError(f"raw Celery {kind} did not finish within {timeout_s:g} s")
            walls.append(float(reply[1]) - started)
    finally:
        client.close()
    return walls


# ---- LangGraph -------------------------------------------------------------------


class ChainState(TypedDict):
    value: int


def _passthrough(state: ChainState) -> ChainState:
    return {"value": state["value"]}


class LangGraphChain:
    """The LangGraph chain, opened once (`open`), invoked one run at a time so
    that its runs interleave with the engine's (the same machine state for
    both: on a shared VM the speed of everything drifts within minutes)."""

    def __init__(self, nodes: int, stack: ExitStack) -> None:
        # Bench-only (requirements-bench.txt); pyproject.toml lets mypy run without it.
        from langgraph.checkpoint.postgres import PostgresSaver
        from langgraph.graph import END, START, StateGraph

        from webapp.ops.preflight import ensure_postgres

        ensure_postgres(LANGGRAPH_URL)
        builder = StateGraph(ChainState)
        names = [f"n{i}" for i in range(nodes)]
        for name in names:
            builder.add_node(name, _passthrough)
        builder.add_edge(START, names[0])
        for a, b in pairwise(names):
            builder.add_edge(a, b)
        builder.add_edge(names[-1], END)
        self.nodes = nodes
        conninfo = LANGGRAPH_URL.replace("postgres://", "postgresql://", 1)
        saver = stack.enter_context(PostgresSaver.from_conn_string(conninfo))
        saver.setup()
        self.durable = builder.compile(checkpointer=saver)
        self.plain = builder.compile()
        self.durable.invoke({"value": 0}, self._config(), durability="sync")  # warm-up
        self.plain.invoke({"value": 0}, self._config())

    @classmethod
    def open(cls, nodes: int, stack: ExitStack) -> LangGraphChain | str:
        """The chain, or why it cannot run (LangGraph not installed)."""
        try:
            import langgraph.checkpoint.postgres  # noqa: F401
        except ImportError as exc:
            return (
                f"LangGraph is not installed ({exc}); "
                "`.venv/bin/pip install -r requirements-bench.txt` adds it"
            )
        return cls(nodes, stack)

    def _config(self) -> Any:
        return {"configurable": {"thread_id": uuid.uuid4().hex}, "recursion_limit": self.nodes + 10}

    def durable_run(self) -> float:
        """Seconds for one invoke with PostgresSaver, durability="sync"."""
        started = time.perf_counter()
        out = self.durable.invoke({"value": 1}, self._config(), durability="sync")
        elapsed = time.perf_counter() - started
        assert out == {"value": 1}, out
        return elapsed

    def memory_run(self) -> float:
        """Seconds for one invoke without a checkpointer."""
        started = time.perf_counter()
        self.plain.invoke({"value": 1}, self._config())
        return time.perf_counter() - started


# ---- profile ---------------------------------------------------------------------


@contextmanager
def _patched(module: Any, name: str, wrapper: Callable[[Any], Any]) -> Iterator[None]:
    """Replace module.name by wrapper(module.name) for the block (if it exists: the
    engine changes under the benchmarks)."""
    original = getattr(module, name, None)
    if original is None:
        yield
        return
    setattr(module, name, wrapper(original))
    try:
        yield
    finally:
        setattr(module, name, original)


def profile_hops(version: WorkflowVersion, nodes: int, repeats: int, top: int) -> None:
    """Execute the chain in-process (no Celery) and print a per-hop breakdown."""
    from django.db import connection

    from webapp.runs import engine, events, services, worker
    from webapp.runs.models import Run

    pending: deque[int] = deque()
    seconds: dict[str, list[float]] = defaultdict(list)
    queries: dict[str, int] = defaultdict(int)
    phase: list[str] = ["other"]
    active = [False]  # measure only while executing the steps of a measured run

    def send_step(
        step_id: int, queue: str, team_id: int, countdown_s: float = 0.0, *, item: bool = False
    ) -> None:
        pending.append(step_id)

    def timing(label: str) -> Callable[[Any], Any]:
        def wrap(func: Any) -> Any:
            def inner(*args: Any, **kwargs: Any) -> Any:
                outer = phase[0]
                phase[0] = label
                start = time.perf_counter()
                try:
                    return func(*args, **kwargs)
                finally:
                    if active[0]:
                        seconds[label].append(time.perf_counter() - start)
                    phase[0] = outer

            return inner

        return wrap

    sql_seconds: dict[str, list[float]] = defaultdict(list)

    def count_queries(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        if not active[0]:
            return execute(sql, params, many, context)
        queries[phase[0]] += 1
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            sql_seconds[f"{phase[0]}: {_shorten(sql)}"].append(time.perf_counter() - start)

    profiler = cProfile.Profile()
    hops = 0
    with (
        _patched(engine, "send_step", lambda _: send_step),
        _patched(worker, "claim", timing("claim")),
        _patched(worker, "record", timing("record")),
        _patched(worker, "advance", timing("record: advance")),
        _patched(worker, "append_event", timing("record: append_event")),
        _patched(engine, "append_event", timing("record: append_event")),
        _patched(events, "publish", timing("publish (after commit)")),
        _patched(events, "publish_many", timing("publish (after commit)")),
        _patched(worker, "run_attempt", _timed_async("node run (run_attempt)", seconds, active)),
        connection.execute_wrapper(count_queries),
    ):
        # Run 0 warms up; runs 1..repeats are timed; one more runs under cProfile.
        for index in range(repeats + 2):
            profiled = index == repeats + 1
            run = services.do_start_run(version, {}, max_steps=1_000_000)
            active[0] = 0 < index <= repeats
            if profiled:
                profiler.enable()
            while pending:
                step_id = pending.popleft()
                start, cpu, tcpu = time.perf_counter(), time.process_time(), time.thread_time()
                worker.execute(step_id, "bench-profile")  # (run-next: many hops)
                if active[0]:
                    seconds["execute (whole hop)"].append(time.perf_counter() - start)
                    seconds["execute: CPU time"].append(time.process_time() - cpu)
                    seconds["execute: thread CPU"].append(time.thread_time() - tcpu)
            if active[0]:
                hops += nodes  # a hop per step of the chain
            profiler.disable()
            active[0] = False
            status = Run.objects.values_list("status", flat=True).get(pk=run.pk)
            if status != "succeeded":
                raise RuntimeError(f"profiled run {run.pk} {status}")
    print(f"\nIn-process per-hop breakdown ({repeats} runs of {nodes} steps, no Celery):")
    rows = []
    for label in [
        "execute (whole hop)",
        "claim",
        "node run (run_attempt)",
        "record",
        "record: advance",
        "record: append_event",
        "publish (after commit)",
    ]:
        if label not in seconds and label == "publish (after commit)":
            continue
        values = seconds.get(label, [])
        per_hop = sum(values) * 1000 / hops if hops else 0.0
        count = len(values) / hops if hops else 0.0
        sql = queries.get(label, 0) / hops if hops else 0.0
        rows.append([label, f"{per_hop:.2f}", f"{count:.2f}", f"{sql:.1f}"])
    rest = sum(seconds["execute (whole hop)"]) - sum(
        sum(seconds[k]) for k in ("claim", "record", "node run (run_attempt)")
    )
    rows.insert(4, ["asyncio.run and the rest", f"{rest * 1000 / hops:.2f}", "1.00", "0.0"])
    cpu = sum(seconds["execute: CPU time"]) * 1000 / hops if hops else 0.0
    rows.insert(1, ["of which CPU (this process)", f"{cpu:.2f}", "-", "-"])
    tcpu = sum(seconds["execute: thread CPU"]) * 1000 / hops if hops else 0.0
    rows.insert(2, ["of which CPU (this thread)", f"{tcpu:.2f}", "-", "-"])
    print(harness.table(["phase", "ms per hop", "calls per hop", "SQL per hop"], rows))
    print("(advance and append_event run inside record; SQL is counted in the innermost phase)")
    print("\nSQL statements by time per hop (Django cursor: round trip and row decoding):")
    slowest = sorted(sql_seconds.items(), key=lambda kv: -sum(kv[1]))[:15]
    print(
        harness.table(
            ["statement", "per hop", "ms per hop", "ms each"],
            [
                [
                    sql,
                    f"{len(v) / hops:.2f}",
                    f"{sum(v) * 1000 / hops:.2f}",
                    f"{harness.mean_ms(v):.2f}",
                ]
                for sql, v in slowest
            ],
        )
    )
    for sort in ("tottime", "cumulative"):
        buffer = io.StringIO()
        stats = pstats.Stats(profiler, stream=buffer)
        stats.sort_stats(sort).print_stats(top)
        print(f"\ncProfile of one more run, top {top} by {sort}:")
        lines = [line for line in buffer.getvalue().splitlines() if line.strip()]
        print("\n".join(line for line in lines if not line.lstrip().startswith("List reduced")))


def _shorten(sql: str) -> str:
    """A statement's verb and table, e.g. 'SELECT runs_step FOR UPDATE'."""
    verb = sql.split(None, 1)[0].upper() if sql.strip() else "?"
    match = re.search(r'(?:FROM|INTO|UPDATE)\s+"(\w+)"', sql)
    table = match.group(1) if match else ""
    if verb == "SELECT" and "COUNT(" in sql.upper():
        verb = "SELECT COUNT"
    suffix = " FOR UPDATE" if "FOR UPDATE" in sql else ""
    return f"{verb} {table}{suffix}".replace("  ", " ").strip()


def _timed_async(
    label: str, seconds: dict[str, list[float]], active: list[bool]
) -> Callable[[Any], Any]:
    def wrap(func: Any) -> Any:
        async def inner(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return await func(*args, **kwargs)
            finally:
                if active[0]:
                    seconds[label].append(time.perf_counter() - start)

        return inner

    return wrap


def traced_runs(version: WorkflowVersion, args: argparse.Namespace) -> None:
    """Engine runs on workers with timing probes; prints where a hop's time goes."""
    from bench import trace

    directory = tempfile.mkdtemp(prefix="quorum-bench-trace-")
    probes = {"BENCH_TRACE": directory}
    with harness.Services() as services:
        services.start_worker("cpu", "prefork", args.cpu_concurrency, extra_env=probes)
        services.start_worker("io", "threads", args.io_concurrency, extra_env=probes)
        engine_runs(version, 1, args.timeout)  # warm-up
        since = time.time()
        walls = engine_runs(version, args.repeats, args.timeout)
    print(f"\nengine with probes: {harness.mean_ms(walls, args.nodes):.2f} ms per hop")
    print("Where a hop's time goes, in the workers (ms):")
    print(
        harness.table(["phase", "calls", "mean", "median", "max"], trace.summary(directory, since))
    )
    shutil.rmtree(directory, ignore_errors=True)


# ---- main --------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.b1_overhead", description=__doc__)
    parser.add_argument("--nodes", type=int, default=100, help="steps per chain (default 100)")
    parser.add_argument("--repeats", type=int, default=5, help="measured runs each (default 5)")
    parser.add_argument("--cpu-concurrency", type=int, default=CPU_CONCURRENCY)
    parser.add_argument("--io-concurrency", type=int, default=IO_CONCURRENCY)
    parser.add_argument("--timeout", type=float, default=300.0, help="per run (s)")
    parser.add_argument("--skip-langgraph", action="store_true")
    parser.add_argument(
        "--profile", action="store_true", help="in-process per-hop breakdown (no Celery)"
    )
    parser.add_argument("--top", type=int, default=30, help="cProfile rows with --profile")
    parser.add_argument(
        "--trace",
        action="store_true",
        help="engine runs only, with timing probes in the workers (bench/trace.py)",
    )
    args = parser.parse_args(argv)
    if args.nodes < 3:
        parser.error("--nodes must be at least 3")

    harness.configure()
    team = harness.bench_team()
    version = harness.publish(team, "b1-chain", chain_graph(args.nodes))
    print(f"B1 per-node overhead: chains of {args.nodes} steps, {args.repeats} runs each")
    print(f"machine: {harness.machine()}")
    if args.profile:
        profile_hops(version, args.nodes, args.repeats, args.top)
        return

    harness.flush_broker()
    if args.trace:
        traced_runs(version, args)
        return
    figures: dict[str, list[float]] = defaultdict(list)
    with harness.Services() as services, ExitStack() as stack:
        services.start_worker("cpu", "prefork", args.cpu_concurrency)
        services.start_worker("io", "threads", args.io_concurrency)
        services.start_beat()
        langgraph = None if args.skip_langgraph else LangGraphChain.open(args.nodes, stack)
        # Warm-up (imports, pools, connections in both worker children), not measured.
        engine_runs(version, 2, args.timeout)
        celery_runs("chain", args.nodes, 2, args.timeout)
        celery_runs("relay", args.nodes, 2, args.timeout)
        # Rounds: one run of each measure per round, so that all see the same
        # machine state (the ratios per round show how much it drifted).
        for _ in range(args.repeats):
            figures["engine"] += engine_runs(version, 1, args.timeout)
            figures["chain"] += celery_runs("chain", args.nodes, 1, args.timeout)
            figures["relay"] += celery_runs("relay", args.nodes, 1, args.timeout)
            if isinstance(langgraph, LangGraphChain):
                figures["postgres"].append(langgraph.durable_run())
                figures["memory"].append(langgraph.memory_run())

    hops = args.nodes

    def per_hop(values: list[float]) -> float:
        return harness.mean_ms(values, hops)

    engine = per_hop(figures["engine"])
    measures: list[tuple[str, list[float]]] = [
        ("Quorum engine (passthrough steps)", figures["engine"]),
        ("raw Celery chain (no-op tasks)", figures["chain"]),
        ("raw Celery relay (task sends next)", figures["relay"]),
    ]
    if figures["postgres"]:
        measures += [
            ("LangGraph + PostgresSaver, sync", figures["postgres"]),
            ("LangGraph, no checkpointer", figures["memory"]),
        ]
    rows = [
        [
            label,
            f"{harness.mean_ms(values):.0f}",
            f"{per_hop(values):.2f}",
            f"{min(values) * 1000 / hops:.2f}",
            "-" if index == 0 else f"{engine / per_hop(values):.2f}",
        ]
        for index, (label, values) in enumerate(measures)
    ]
    print()
    print(
        harness.table(
            ["measure", "ms per run (mean)", "ms per hop (mean)", "min ms/hop", "engine / this"],
            rows,
        )
    )
    print()
    print(f"per round, engine / Celery chain: {_rounds(figures['engine'], figures['chain'])}")
    if figures["postgres"]:
        lg_rounds = _rounds(figures["engine"], figures["postgres"])
        print(f"per round, engine / LangGraph+PG: {lg_rounds}")
    celery_ratio = engine / per_hop(figures["chain"])
    verdict = "met" if celery_ratio <= 3 else "MISSED"
    print(f"RATIO engine / raw Celery chain per hop = {celery_ratio:.2f} (target <= 3): {verdict}")
    if figures["postgres"]:
        lg_ratio = engine / per_hop(figures["postgres"])
        verdict = "met" if lg_ratio < 1 else "MISSED"
        print(
            f"RATIO engine / LangGraph+Postgres (durability=sync) per step = {lg_ratio:.2f} "
            f"(target < 1): {verdict}"
        )
    elif langgraph is not None:
        print(f"LangGraph comparison not run: {langgraph}")


def _rounds(engine: list[float], other: list[float]) -> str:
    return ", ".join(f"{a / b:.2f}" for a, b in zip(engine, other, strict=True))


if __name__ == "__main__":
    main()
