"""Optional timing probes inside the bench's worker processes (diagnostics only).

When a bench worker starts with BENCH_TRACE=<directory>, `bench.tasks` calls
`install()`, which wraps a few engine functions (in memory, in that worker only)
to append one line per call to `<directory>/trace-<pid>.log`:

    <label> <step id or -> <start epoch s> <end epoch s>

`hops()` reads those files back and splits each hop of a chain into: broker
dispatch (send_step of hop k -> execute of hop k+1 starts), claim, node run,
record, and what follows record. The figures measured with tracing on are a
little slower than without; the plain benchmark runs without it.
"""

from __future__ import annotations

import functools
import os
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

_files: dict[int, IO[str]] = {}


def _write(directory: str, line: str) -> None:
    pid = os.getpid()
    handle = _files.get(pid)
    if handle is None:  # opened after the fork, one file per process
        handle = _files[pid] = Path(directory, f"trace-{pid}.log").open("a", buffering=1)
    handle.write(line)


def _probe(directory: str, label: str, func: Callable[..., Any], step_arg: int | None) -> Any:
    @functools.wraps(func)
    def inner(*args: Any, **kwargs: Any) -> Any:
        start = time.time()
        try:
            return func(*args, **kwargs)
        finally:
            step = "-"
            if step_arg is not None and len(args) > step_arg:
                first = args[step_arg]
                step = str(getattr(first, "step_id", first))
            _write(directory, f"{label} {step} {start:.6f} {time.time():.6f}\n")

    return inner


def _profiled(directory: str, func: Callable[..., Any]) -> Any:
    """cProfile every call of `func`; dump this process's stats every 20 calls."""
    import cProfile

    profiles: dict[int, tuple[cProfile.Profile, list[int]]] = {}

    @functools.wraps(func)
    def inner(*args: Any, **kwargs: Any) -> Any:
        pid = os.getpid()
        if pid not in profiles:
            profiles[pid] = (cProfile.Profile(), [0])
        profiler, calls = profiles[pid]
        profiler.enable()
        try:
            return func(*args, **kwargs)
        finally:
            profiler.disable()
            calls[0] += 1
            if calls[0] % 20 == 0:
                profiler.dump_stats(str(Path(directory, f"profile-{pid}.pstats")))

    return inner


def install(directory: str) -> None:
    """Wrap the engine's hop functions in this process (see the module docstring).
    With BENCH_PROFILE=1 too, `execute` also runs under cProfile (profile-<pid>.pstats)."""
    from webapp.runs import engine, events, worker

    if os.environ.get("BENCH_PROFILE"):
        worker.execute = _profiled(directory, worker.execute)

    probes = [
        (worker, "execute", "execute", 0),
        (worker, "claim", "claim", 0),
        (worker, "record", "record", 0),
        (worker, "claim_items", "group-claim", None),  # one batch of the committer
        (worker, "record_items", "group-record", None),
        (worker, "execute_items", "execute-items", None),  # one chunk delivery
        (worker, "advance", "advance", None),
        (events, "publish", "publish", None),  # one event per call (older engine)
        (events, "publish_many", "publish", None),  # a transaction's events per call
        (engine, "send_step", "send_step", 0),
    ]
    for module, name, label, step_arg in probes:
        original = getattr(module, name, None)
        if original is not None:  # the engine changes under the benchmarks
            setattr(module, name, _probe(directory, label, original, step_arg))


def hops(directory: str, since: float = 0.0) -> dict[str, list[float]]:
    """ms per hop of each phase, from the calls in `directory` started after `since`."""
    calls: dict[str, dict[str, tuple[float, float]]] = defaultdict(dict)
    unlinked: dict[str, list[float]] = defaultdict(list)
    for path in Path(directory).glob("trace-*.log"):
        for line in path.read_text().splitlines():
            label, step, start_text, end_text = line.split()
            began, ended = float(start_text), float(end_text)
            if began < since:
                continue
            if step == "-":
                unlinked[f"{label} (each call)"].append(ended - began)
            else:
                calls[label][step] = (began, ended)
    phases: dict[str, list[float]] = defaultdict(list)
    for step, (start, end) in calls["execute"].items():
        claim = calls["claim"].get(step)
        record = calls["record"].get(step)
        if claim is None or record is None:
            continue
        phases["execute (claim to end)"].append(end - start)
        phases["claim"].append(claim[1] - claim[0])
        phases["node run (claim end -> record start)"].append(record[0] - claim[1])
        phases["record"].append(record[1] - record[0])
        phases["after record (-> task end)"].append(end - record[1])
        sent = calls["send_step"].get(step)
        if sent is not None:
            phases["broker dispatch (send -> execute)"].append(start - sent[1])
    phases.update(unlinked)
    return {k: [v * 1000 for v in values] for k, values in phases.items()}


def summary(directory: str, since: float = 0.0) -> list[list[str]]:
    rows = []
    for label, values in hops(directory, since).items():
        rows.append(
            [
                label,
                str(len(values)),
                f"{statistics.mean(values):.2f}",
                f"{statistics.median(values):.2f}",
                f"{max(values):.2f}",
            ]
        )
    return rows
