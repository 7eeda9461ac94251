"""B5a: dashboard queries over 1,000,000 steps.

    python -m bench.b5_dashboard [--steps 1000000] [--runs 50000] [--days 30]
                                 [--repeats 5] [--reseed]

Seeds (once; `--reseed` to redo) one team with 8 workflows, `--runs` runs and
`--steps` step rows spread over the last `--days` days, with bulk SQL
(`INSERT ... SELECT ... FROM generate_series`, not the ORM row by row), then
VACUUM ANALYZE. Then times every dashboard chart's query exactly as the view
runs it (`webapp.monitoring.charts.CHARTS[...].query(Scope(...))`, through
`permissions.restrict`) for the 30-day range (every row) and the default 7-day
range, `--repeats` times each, and prints the median and worst ms per query
against the 500 ms target. Before timing, the team's rollups are dropped and
rebuilt once (`ensure_rolled`, timed and printed: what the first dashboard view
after an upgrade pays); the timed queries then read the rollups for whole hours
and `runs_step` for the last hour, as in production.

Database `quorum_b5` and Redis database 10 (override with BENCH_DATABASE_URL /
BENCH_REDIS_URL); no worker is started.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("BENCH_DATABASE_URL", "postgres://localhost:5432/quorum_b5")
os.environ.setdefault("BENCH_REDIS_URL", "redis://localhost:6379/10")

from bench import harness

TARGET_MS = 500.0
WORKFLOWS = 8
NODES = [  # (node id, node type, provider, model, mean latency ms, priced)
    ("planner", "llm", "OpenAI", "gpt-4o-mini", 900, True),
    ("research", "llm", "OpenAI", "gpt-4o", 2500, True),
    ("writer", "llm", "Anthropic", "claude-sonnet-4", 4000, True),
    ("critic", "llm", "Simulator", "sim-small", 700, False),
    ("route", "router", "", "", 5, False),
    ("join", "join", "", "", 3, False),
    ("loop", "loop", "", "", 2, False),
    ("topic", "input", "", "", 1, False),
]


def seed(runs: int, steps: int, days: int) -> int:
    """Create the team, its workflows and the bulk rows; returns the team id."""
    from django.contrib.auth.models import User
    from django.db import connection, transaction

    from webapp.accounts.models import Membership, Role, Team
    from webapp.runs.models import Run

    team, _ = Team.objects.get_or_create(slug="b5", defaults={"name": "B5 dashboards"})
    user, _ = User.objects.get_or_create(username="b5-owner")
    Membership.objects.get_or_create(user=user, team=team, defaults={"role": Role.OWNER})
    if Run.objects.filter(team=team).count() == runs and not _reseed:
        return int(team.pk)
    doc = harness.graph(
        [harness.node("in", "input"), harness.node("out", "output")],
        [harness.edge("in", "out", "out", "in")],
    )
    versions = [harness.publish(team, f"b5-flow{i}", doc) for i in range(WORKFLOWS)]
    print(f"seeding {runs:,} runs and {steps:,} steps over {days} days ...", flush=True)
    started = time.monotonic()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM runs_step WHERE team_id = %s", [team.pk])
        cursor.execute("DELETE FROM runs_run WHERE team_id = %s", [team.pk])
        cursor.execute(
            """
            CREATE TEMP TABLE b5_versions ON COMMIT DROP AS
            SELECT row_number() OVER (ORDER BY id) - 1 AS k, id, workflow_id
            FROM workflows_workflowversion WHERE id = ANY(%s)
            """,
            [[v.pk for v in versions]],
        )
        cursor.execute(
            """
            INSERT INTO runs_run (team_id, workflow_id, version_id, status, inputs, error,
                created_at, started_at, finished_at, max_steps, cancel_requested, event_seq,
                step_count, tokens_in, tokens_out, cost_usd, unpriced_calls, created_by_id)
            SELECT %(team)s, v.workflow_id, v.id,
                (ARRAY['succeeded','succeeded','succeeded','succeeded','succeeded',
                       'succeeded','succeeded','failed','cancelled','running'])[1 + g %% 10],
                '{}'::jsonb, '', t, t + interval '50 ms',
                CASE WHEN g %% 10 = 9 THEN NULL
                     ELSE t + (random() * 60 + 1) * interval '1 second' END,
                100000, false, 0, %(per_run)s, 0, 0, 0, 0, %(user)s
            FROM generate_series(1, %(runs)s) AS g
            CROSS JOIN LATERAL (
                SELECT now() - random() * %(days)s * interval '1 day' + g * interval '0' AS t
            ) AS s  -- g: evaluated per row
            JOIN b5_versions v ON v.k = g %% %(workflows)s
            """,
            {
                "team": team.pk,
                "runs": runs,
                "days": days,
                "workflows": WORKFLOWS,
                "per_run": steps // runs,
                "user": user.pk,
            },
        )
        cursor.execute(
            "CREATE TEMP TABLE b5_runs ON COMMIT DROP AS "
            "SELECT row_number() OVER (ORDER BY id) - 1 AS k, id, created_at "
            "FROM runs_run WHERE team_id = %s",
            [team.pk],
        )
        cursor.execute("CREATE INDEX ON b5_runs (k)")
        cursor.execute(
            "CREATE TEMP TABLE b5_nodes (k int, node_id text, node_type text, provider text, "
            "model text, lat float, priced bool) ON COMMIT DROP"
        )
        cursor.executemany(
            "INSERT INTO b5_nodes VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [(k, *node) for k, node in enumerate(NODES)],
        )
        cursor.execute(
            """
            INSERT INTO runs_step (team_id, run_id, node_id, node_type, iteration, item,
                attempt, superseded, status, queue, queued_at, started_at, finished_at,
                queue_wait_ms, latency_ms, tokens_in, tokens_out, cost_usd, provider, model,
                worker, error)
            SELECT %(team)s, r.id, n.node_id, n.node_type, 0, NULL, 1, false,
                CASE WHEN g %% 50 = 0 THEN 'failed' ELSE 'succeeded' END,
                CASE WHEN n.node_type = 'llm' THEN 'io' ELSE 'cpu' END,
                r.created_at, r.created_at + w.wait * interval '1 millisecond',
                r.created_at + (w.wait + w.lat) * interval '1 millisecond',
                w.wait, w.lat,
                CASE WHEN n.node_type = 'llm' THEN 200 + g %% 800 ELSE 0 END,
                CASE WHEN n.node_type = 'llm' THEN 100 + g %% 400 ELSE 0 END,
                CASE WHEN n.priced THEN (g %% 1000) * 0.000003 ELSE NULL END,
                n.provider, n.model, 'bench@host', ''
            FROM generate_series(0, %(steps)s - 1) AS g
            JOIN b5_runs r ON r.k = g / %(per_run)s
            JOIN b5_nodes n ON n.k = g %% %(nodes)s
            CROSS JOIN LATERAL (SELECT random() * 200 AS wait,
                                       n.lat * (0.3 + random() * 1.4) AS lat) AS w
            """,
            {
                "team": team.pk,
                "steps": steps,
                "per_run": max(1, steps // runs),
                "nodes": len(NODES),
            },
        )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE runs_run")
        cursor.execute("VACUUM ANALYZE runs_step")
    print(f"seeded in {time.monotonic() - started:.0f} s", flush=True)
    return int(team.pk)


_reseed = False


def time_queries(team_id: int, days: int, repeats: int) -> list[list[str]]:
    from django.contrib.auth.models import User
    from django.http import QueryDict

    from webapp.accounts.models import Team
    from webapp.monitoring.charts import CHARTS
    from webapp.monitoring.filters import parse_range
    from webapp.monitoring.queries import Scope

    team = Team.objects.get(pk=team_id)
    user = User.objects.get(username="b5-owner")
    rows = []
    for label in (f"{days}d", "7d"):
        time_range = parse_range(QueryDict(f"range={label}"))
        assert time_range is not None
        scope = Scope(user, team, time_range)
        for chart in CHARTS.values():
            timings, count = [], 0
            for _ in range(repeats):
                started = time.perf_counter()
                result = chart.query(scope)
                timings.append((time.perf_counter() - started) * 1000)
                count = len(result)
            median, worst = statistics.median(timings), max(timings)
            verdict = "ok" if worst < TARGET_MS else "SLOW"
            rows.append([label, chart.slug, str(count), f"{median:.0f}", f"{worst:.0f}", verdict])
            print(" | ".join(rows[-1]), flush=True)
    return rows


def main() -> None:
    global _reseed
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=50_000)
    parser.add_argument("--days", type=int, default=30, choices=[30, 90])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--reseed", action="store_true")
    args = parser.parse_args()
    _reseed = args.reseed
    harness.configure()
    print(harness.machine())
    team_id = seed(args.runs, args.steps, args.days)
    from webapp.runs.models import Step

    print(f"steps in the table: {Step.objects.count():,}")
    from webapp.monitoring.models import LatencyRollup, RollupState, StepRollup
    from webapp.monitoring.rollup import ensure_rolled

    for model in (StepRollup, LatencyRollup, RollupState):
        model._default_manager.filter(team_id=team_id).delete()
    started = time.perf_counter()
    ensure_rolled(team_id)
    build_s = time.perf_counter() - started
    print(
        f"one-off rollup of the team's whole history: {build_s:.1f} s "
        f"({StepRollup.objects.filter(team_id=team_id).count():,} step rollup rows, "
        f"{LatencyRollup.objects.filter(team_id=team_id).count():,} latency rollup rows)",
        flush=True,
    )
    rows = time_queries(team_id, args.days, args.repeats)
    print()
    print(harness.table(["range", "chart", "rows", "median ms", "worst ms", "< 500 ms"], rows))
    slow = [r for r in rows if r[-1] != "ok"]
    print(f"\nRATIO worst/target: {max(float(r[4]) for r in rows) / TARGET_MS:.2f}")
    print("all under 500 ms" if not slow else f"{len(slow)} queries over 500 ms")


if __name__ == "__main__":
    main()
