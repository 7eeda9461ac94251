"""Shared set-up for the benchmarks: isolated services, worker processes, samplers.

Isolation: the benchmarks use their own database (`quorum_bench`) and Redis
database (14), never the test suite's (`test_quorum`, Redis 15) nor `make run`'s
(`quorum`, Redis 0). Override with BENCH_DATABASE_URL / BENCH_REDIS_URL.

`configure()` must run before anything imports Django models: it sets the
environment (also inherited by the worker processes), calls `django.setup()`,
creates the database if missing, takes a Postgres advisory lock (one benchmark
at a time: two would share these services) and migrates.

`Services` starts the Celery workers (as `make run`'s Procfile does) and the fake
LLM server as subprocesses, each in its own session, and stops every one of them
on exit, also on Ctrl-C, SIGTERM or an exception.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Any

from orchestration.build import edge, node  # noqa: F401 (re-exported for callers)

if TYPE_CHECKING:
    from webapp.accounts.models import Team
    from webapp.workflows.models import WorkflowVersion

ROOT = Path(__file__).resolve().parent.parent
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://localhost:5432/quorum_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://localhost:6379/14")
LOG_DIR = ROOT / ".state" / "bench"
DRIVER_APP = "quorum-bench-driver"
SAMPLER_APP = "quorum-bench-sampler"


def configure() -> None:
    """Point this process (and its children) at the bench services, set Django up,
    create the database if missing, take the bench lock (one benchmark at a time)
    and migrate. Idempotent."""
    os.environ.update(
        DJANGO_SETTINGS_MODULE="webapp.settings",
        DATABASE_URL=DATABASE_URL,
        REDIS_URL=REDIS_URL,
        CELERY_BROKER_URL=REDIS_URL,
        # DEBUG=0: Django's debug cursor would record every query (time and memory).
        DEBUG="0",
        PGAPPNAME=DRIVER_APP,
    )
    os.environ.setdefault("SECRET_KEY", "bench-" + secrets.token_urlsafe(48))
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    from webapp.ops.preflight import ensure_postgres, ensure_redis

    ensure_redis(REDIS_URL)
    ensure_postgres(DATABASE_URL)
    take_bench_lock()
    call_command("migrate", verbosity=0)


_lock_connection: Any = None
LOCK_KEY = 7_350_001  # pg advisory lock: one benchmark at a time on the bench services


def take_bench_lock() -> None:
    """Hold a Postgres advisory lock for this process's lifetime, or exit.

    Two benchmarks at once would share quorum_bench and Redis 14: each one's
    workers would run the other's steps, the start-up flush would drop the other's
    messages, and both figures would be wrong."""
    global _lock_connection
    import psycopg

    if _lock_connection is not None:
        return
    conninfo = DATABASE_URL.replace("postgres://", "postgresql://", 1)
    command = " ".join([Path(sys.argv[0]).stem, *sys.argv[1:]])
    name = f"quorum-bench-lock pid={os.getpid()} {command}"[:63]  # Postgres keeps 63
    conn = psycopg.connect(conninfo, autocommit=True, application_name=name)
    row = conn.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY]).fetchone()
    if row and row[0]:
        _lock_connection = conn
        return
    holder = conn.execute(
        "SELECT a.application_name, a.backend_start FROM pg_locks l "
        "JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.objid = %s AND l.granted",
        [LOCK_KEY],
    ).fetchone()
    conn.close()
    who = f"{holder[0]!r}, started {holder[1]:%H:%M:%S}" if holder else "unknown"
    raise SystemExit(
        f"another benchmark is running ({who}); benchmarks share {DATABASE_URL} and "
        f"{REDIS_URL} and would disturb each other. Run them one at a time."
    )


def flush_broker() -> None:
    """Empty the bench Redis database: no message of an aborted earlier run may be
    delivered to this run's workers."""
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.flushdb()
    finally:
        client.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def machine() -> str:
    """One line describing the machine and its current load."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{os.cpu_count()} cores, Python {sys.version.split()[0]}, load average {load}"


# ---- processes ---------------------------------------------------------------


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: IO[bytes]
    hostname: str = ""


class Services:
    """Subprocesses of one benchmark; a context manager that always stops them."""

    def __init__(self) -> None:
        self.procs: list[Proc] = []
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Services:
        # SIGTERM (and SIGHUP) become KeyboardInterrupt so __exit__ runs.
        for sig in (signal.SIGTERM, signal.SIGHUP):
            self._previous[sig] = signal.signal(sig, _interrupt)
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop_all()
        finally:
            for sig, handler in self._previous.items():
                signal.signal(sig, handler)

    def _spawn(self, name: str, command: list[str], env: dict[str, str]) -> Proc:
        log = (LOG_DIR / f"{name}.log").open("ab")
        log.write(f"\n=== {time.ctime()} {' '.join(command)}\n".encode())
        log.flush()
        popen = subprocess.Popen(
            command,
            cwd=ROOT,
            env=dict(os.environ) | {"PYTHONPATH": str(ROOT)} | env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: Ctrl-C reaches us, we stop it
        )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def start_worker(
        self, queue: str, pool: str, concurrency: int, *, extra_env: dict[str, str] | None = None
    ) -> Proc:
        """A `celery worker` for `queue`, as in the Procfile, that also imports
        `bench.tasks`; returns once it answers a ping."""
        tag = uuid.uuid4().hex[:6]
        hostname = f"bench-{queue}-{tag}@{socket.gethostname()}"
        command = [
            sys.executable, "-m", "celery", "-A", "webapp", "worker",
            "--queues", queue, "--pool", pool, "--concurrency", str(concurrency),
            "--hostname", hostname, "--loglevel", "WARNING", "--include", "bench.tasks",
        ]  # fmt: skip
        env = {"PGAPPNAME": f"quorum-bench-{queue}"} | (extra_env or {})
        proc = self._spawn(f"worker-{queue}-{pool}", command, env)
        proc.hostname = hostname
        _wait_for_ping(proc)
        return proc

    def start_beat(self) -> Proc:
        """Celery beat, as `make run` starts it: it runs the reaper every
        REAPER_INTERVAL_S (re-queues steps whose lease expired)."""
        command = [
            sys.executable, "-m", "celery", "-A", "webapp", "beat", "--loglevel", "WARNING",
            "--schedule", str(LOG_DIR / "celerybeat-schedule"),
        ]  # fmt: skip
        return self._spawn("beat", command, {"PGAPPNAME": "quorum-bench-beat"})

    def start_fakellm(self, latency_ms: int = 0, port: int | None = None) -> str:
        """The fake LLM server; returns its base URL once healthy."""
        port = port or free_port()
        command = [
            sys.executable, "-m", "orchestration.testing.fakellm", "--host", "127.0.0.1",
            "--port", str(port), "--latency-ms", str(latency_ms), "--log-level", "warning",
        ]  # fmt: skip
        proc = self._spawn("fakellm", command, {})
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(url + "/_fake/health", timeout=1)  # noqa: S310 (ours)
                return url
            except OSError:
                if proc.popen.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the fake LLM server did not start; see {proc.log.name}"
                    ) from None
                time.sleep(0.1)

    def stop(self, proc: Proc, timeout_s: float = 20.0) -> None:
        """SIGTERM the process group (a warm shutdown for Celery), SIGKILL after
        `timeout_s`."""
        if proc.popen.poll() is None:
            _signal_group(proc.popen.pid, signal.SIGTERM)
            try:
                proc.popen.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                pass
        _signal_group(proc.popen.pid, signal.SIGKILL)  # leftover children of the group
        if proc.popen.poll() is None:
            proc.popen.wait()
        proc.log.close()
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(list(self.procs)):
            self.stop(proc)

    def worker_pids(self) -> list[int]:
        return [p.popen.pid for p in self.procs if p.name.startswith("worker-")]


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)  # the group we created with start_new_session (pgid == pid)
    except (ProcessLookupError, PermissionError):
        pass


def _wait_for_ping(proc: Proc, timeout_s: float = 60.0) -> None:
    from webapp.celery import app

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(
                f"{proc.name} exited with code {proc.popen.returncode}; see {proc.log.name}"
            )
        replies = app.control.ping(destination=[proc.hostname], timeout=0.5) or []
        if any(proc.hostname in reply for reply in replies):
            return
    raise RuntimeError(f"{proc.name} did not answer a ping within {timeout_s:g} s")


# ---- sampling ----------------------------------------------------------------

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def tree_rss_bytes(roots: list[int]) -> int:
    """Resident memory of `roots` and all their descendants (from /proc)."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(")") + 2 :].split()[1])
        children[ppid].append(int(entry))
    total = 0
    stack = list(roots)
    seen: set[int] = set()
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE
        except (OSError, IndexError, ValueError):
            continue
        stack.extend(children.get(pid, ()))
    return total


@dataclass
class Peaks:
    rss_bytes: int = 0
    db_connections: int = 0
    db_by_app: dict[str, int] = field(default_factory=dict)
    lock_waiters: int = 0
    samples: int = 0


class Sampler:
    """Every `interval_s`: RSS of the worker process trees, connections to the bench
    database (the sampler's and the bench lock's excluded) and backends waiting
    on a lock."""

    def __init__(
        self, pids: list[int], interval_s: float = 0.1, rss_limit_bytes: int | None = None
    ) -> None:
        self.pids = pids
        self.interval_s = interval_s
        self.rss_limit_bytes = rss_limit_bytes
        self.peaks = Peaks()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-sampler", daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def exceeded(self) -> str | None:
        """Why the run should be abandoned (worker memory over the limit), or None."""
        limit = self.rss_limit_bytes
        if limit and self.peaks.rss_bytes > limit:
            return f"worker RSS {self.peaks.rss_bytes / 2**30:.1f} GiB over {limit / 2**30:.1f} GiB"
        return None

    def _loop(self) -> None:
        import psycopg

        from webapp.ops.preflight import maintenance_url

        admin_url, dbname = maintenance_url(DATABASE_URL)
        query = (
            "SELECT coalesce(application_name, ''), count(*), "
            "count(*) FILTER (WHERE wait_event_type = 'Lock') "
            "FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() "
            "AND coalesce(application_name, '') NOT LIKE 'quorum-bench-lock%%' GROUP BY 1"
        )
        with psycopg.connect(admin_url, autocommit=True, application_name=SAMPLER_APP) as conn:
            while not self._stop.is_set():
                rows = conn.execute(query, [dbname]).fetchall()
                peaks = self.peaks
                peaks.db_connections = max(peaks.db_connections, sum(r[1] for r in rows))
                peaks.lock_waiters = max(peaks.lock_waiters, sum(r[2] for r in rows))
                for app, count, _ in rows:
                    peaks.db_by_app[app] = max(peaks.db_by_app.get(app, 0), count)
                peaks.rss_bytes = max(peaks.rss_bytes, tree_rss_bytes(self.pids))
                peaks.samples += 1
                if self.rss_limit_bytes and peaks.rss_bytes > self.rss_limit_bytes:
                    self._stop.set()  # the caller's abort check sees exceeded()
                self._stop.wait(self.interval_s)


# ---- Django-side helpers -------------------------------------------------------


def bench_team() -> Team:
    """The team that owns every benchmark workflow and run."""
    from webapp.accounts.models import Team

    team, _ = Team.objects.get_or_create(slug="bench", defaults={"name": "Benchmarks"})
    return team


def give_simulator(team: Team, fake_url: str) -> None:
    from webapp.providers.services import do_save_provider

    do_save_provider(
        team,
        "Simulator",
        kind="openai",
        base_url=fake_url + "/v1",
        model_names=["sim-small"],
        simulated=True,
        max_concurrency=20000,
    )


def graph(
    nodes: list[dict[str, Any]],
    edges: list[dict[str, Any]],
    *,
    output: str = "out",
    inputs: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "inputs": inputs or {"type": "object", "properties": {}},
        "nodes": nodes,
        "edges": edges,
        "outputs": {"result": {"node": output, "port": "out"}},
    }


def publish(team: Team, prefix: str, document: dict[str, Any]) -> WorkflowVersion:
    """Create a uniquely named workflow with `document` and publish it."""
    from webapp.workflows.services import do_create_workflow, do_publish

    workflow = do_create_workflow(team, f"{prefix}-{uuid.uuid4().hex[:8]}", graph=document)
    return do_publish(workflow)


@dataclass
class RunResult:
    run_id: int
    status: str
    wall_s: float  # from just before do_start_run to the run's finished_at
    makespan_s: float | None  # run.started_at -> run.finished_at (engine timestamps)
    error: str = ""


def start_and_wait(
    version: WorkflowVersion,
    inputs: dict[str, Any],
    *,
    timeout_s: float,
    poll_s: float = 0.02,
    progress: Callable[[int], int] | None = None,
    stall_s: float | None = None,
    abort: Callable[[], str | None] | None = None,
) -> RunResult:
    """Start a run and poll until it is terminal, `timeout_s` passes, (with
    `stall_s`) `progress()` has not changed for `stall_s`, or `abort()` gives a
    reason; returns its timings."""
    from django.utils import timezone

    from webapp.runs.models import RUN_TERMINAL, Run
    from webapp.runs.services import do_start_run

    started = timezone.now()
    run = do_start_run(version, inputs, max_steps=1_000_000)
    deadline = time.monotonic() + timeout_s
    last_progress, last_change, last_check = None, time.monotonic(), 0.0
    while True:
        status, run_started, finished, error = Run.objects.values_list(
            "status", "started_at", "finished_at", "error"
        ).get(pk=run.pk)
        if status in RUN_TERMINAL and finished is not None:
            makespan = (finished - run_started).total_seconds() if run_started else None
            return RunResult(run.pk, status, (finished - started).total_seconds(), makespan, error)
        now = time.monotonic()
        elapsed = (timezone.now() - started).total_seconds()
        reason = abort() if abort is not None else None
        if reason:
            return RunResult(run.pk, f"aborted after {elapsed:.0f} s ({reason})", elapsed, None)
        if progress is not None and stall_s is not None and now - last_check >= 1.0:
            last_check = now
            current = progress(run.pk)
            if current != last_progress:
                last_progress, last_change = current, now
            elif now - last_change > stall_s:
                return RunResult(
                    run.pk,
                    f"stalled ({status}, no progress for {stall_s:g} s, at {current})",
                    (timezone.now() - started).total_seconds(),
                    None,
                )
        if now > deadline:
            return RunResult(
                run.pk,
                f"timed out ({status} after {timeout_s:g} s)",
                (timezone.now() - started).total_seconds(),
                None,
            )
        time.sleep(poll_s)


def cancel_run(run_id: int) -> None:
    """Cancel a run left unfinished (timeout, stall) so it does not linger as running;
    gives up after 10 s waiting for the run's lock."""
    from django.db import DatabaseError, connection, transaction

    from webapp.runs.models import Run
    from webapp.runs.services import do_cancel_run

    run = Run.objects.filter(pk=run_id).first()
    if run is None:
        return
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '10s'")
            do_cancel_run(run, reason="benchmark stopped")
    except DatabaseError as exc:
        print(f"could not cancel run {run_id}: {exc}")


# ---- reporting ---------------------------------------------------------------


def mean_ms(values_s: list[float], per: int = 1) -> float:
    return statistics.mean(values_s) * 1000 / per


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A Markdown table (also readable in a terminal)."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    line = "| " + " | ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    body = [
        "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |" for r in rows
    ]
    return "\n".join([line, rule, *body])
