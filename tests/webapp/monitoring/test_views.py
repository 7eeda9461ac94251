"""The runs list, the run page (and its partials) and the dashboards, tried by
the three personas: owner_a, viewer_a (may not cancel) and member_b (another team)."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from tests.conftest import Personas, client_for
from tests.webapp.monitoring.helpers import make_run
from webapp.runs.models import Run, Step

pytestmark = pytest.mark.django_db


def add_step(run: Run, node_id: str = "in", **fields: object) -> Step:
    now = timezone.now()
    values: dict[str, object] = {
        "team_id": run.team_id,
        "run": run,
        "node_id": node_id,
        "node_type": "llm",
        "status": "succeeded",
        "queued_at": now - timedelta(seconds=2),
        "started_at": now - timedelta(seconds=1.5),
        "finished_at": now - timedelta(seconds=0.5),
        "queue_wait_ms": 500.0,
        "latency_ms": 1000.0,
        "tokens_in": 10,
        "tokens_out": 20,
        "cost_usd": Decimal("0.000050"),
        "provider": "Simulator",
        "model": "sim-small",
    }
    values.update(fields)
    return Step.objects.create(**values)


def test_runs_list_shows_only_the_current_teams_runs(personas: Personas) -> None:
    mine = make_run(personas.team_a, "Alpha")
    theirs = make_run(personas.team_b, "Beta")
    html = client_for(personas.viewer_a).get("/runs/").content.decode()
    assert f'id="run-{mine.pk}"' in html
    assert f'id="run-{theirs.pk}"' not in html
    assert "Beta" not in html
    html_b = client_for(personas.member_b).get("/runs/").content.decode()
    assert f'id="run-{theirs.pk}"' in html_b
    assert f'id="run-{mine.pk}"' not in html_b


def test_runs_list_filters_and_bad_filters(personas: Personas) -> None:
    alpha = make_run(personas.team_a, "Alpha")
    beta = make_run(personas.team_a, "Beta")
    Run.objects.filter(pk=beta.pk).update(status="failed", created_by=personas.owner_a)
    client = client_for(personas.owner_a)
    html = client.get("/runs/", {"workflow": alpha.workflow_id}).content.decode()
    assert f'id="run-{alpha.pk}"' in html
    assert f'id="run-{beta.pk}"' not in html
    html = client.get("/runs/", {"status": "failed"}).content.decode()
    assert f'id="run-{beta.pk}"' in html
    assert f'id="run-{alpha.pk}"' not in html
    html = client.get("/runs/", {"started_by": personas.owner_a.pk}).content.decode()
    assert f'id="run-{beta.pk}"' in html
    assert f'id="run-{alpha.pk}"' not in html
    html = client.get("/runs/", {"range": "1h"}).content.decode()
    assert f'id="run-{beta.pk}"' in html

    cases: list[tuple[dict[str, object], str]] = [
        ({"status": "exploded"}, "status: &#x27;exploded&#x27; is not one of"),
        ({"workflow": "abc"}, "workflow: &#x27;abc&#x27; is not a number"),
        ({"workflow": "999999"}, "Team A has no workflow with id 999999"),
        ({"started_by": personas.member_b.pk}, "no member of Team A has id"),
        ({"range": "2w"}, "range: &#x27;2w&#x27; is not one of 1h, 24h, 7d, 30d, 90d"),
        ({"from": "yesterday"}, "from: &#x27;yesterday&#x27; is not a date and time"),
        ({"from": "2026-01-02T00:00", "to": "2026-01-01T00:00"}, "must be before to"),
        ({"before": "nope"}, "before: &#x27;nope&#x27; is not a page cursor"),
    ]
    for params, message in cases:
        response = client.get("/runs/", params)  # type: ignore[arg-type]
        assert response.status_code == 400, params
        assert message in response.content.decode(), (params, response.content.decode())


def test_runs_list_keyset_pagination(personas: Personas) -> None:
    first = make_run(personas.team_a, "Paged")
    for _ in range(54):
        Run.objects.create(team=personas.team_a, workflow=first.workflow, version=first.version)
    client = client_for(personas.owner_a)
    html = client.get("/runs/").content.decode()
    assert html.count('data-run="') == 50
    cursor = html.split("before=")[1].split('"')[0]
    page2 = client.get("/runs/?before=" + cursor, HTTP_HX_REQUEST="true").content.decode()
    assert page2.count('data-run="') == 5
    assert "<html" not in page2  # the htmx partial only
    assert f'id="run-{first.pk}"' in page2
    assert "Older runs" not in page2


def test_run_page_for_each_persona(personas: Personas) -> None:
    run = make_run(personas.team_a)
    owner = client_for(personas.owner_a).get(f"/runs/{run.pk}/")
    assert owner.status_code == 200
    html = owner.content.decode()
    assert 'data-node="in"' in html
    assert 'data-node="out"' in html
    assert "Cancel run" in html
    assert f'"socket": "/ws/runs/{run.pk}/"' in html
    viewer = client_for(personas.viewer_a).get(f"/runs/{run.pk}/")
    assert viewer.status_code == 200
    assert "Cancel run" not in viewer.content.decode()
    assert client_for(personas.member_b).get(f"/runs/{run.pk}/").status_code == 404
    anonymous = client_for(None).get(f"/runs/{run.pk}/")
    assert anonymous.status_code == 302
    for suffix in ("steps/", "timeline/", "row/"):
        assert client_for(personas.member_b).get(f"/runs/{run.pk}/{suffix}").status_code == 404


def test_cancel_needs_the_role(personas: Personas) -> None:
    run = make_run(personas.team_a)
    assert client_for(personas.viewer_a).post(f"/runs/{run.pk}/cancel/").status_code == 403
    assert client_for(personas.member_b).post(f"/runs/{run.pk}/cancel/").status_code == 404
    response = client_for(personas.owner_a).post(f"/runs/{run.pk}/cancel/")
    assert response.status_code == 302
    run.refresh_from_db()
    assert run.status == "cancelled"
    assert run.error == "cancelled by owner_a"
    html = client_for(personas.owner_a).get(f"/runs/{run.pk}/").content.decode()
    assert "Cancel run" not in html
    assert "Retry" in html


def test_step_table_and_timeline(personas: Personas) -> None:
    run = make_run(personas.team_a)
    step = add_step(run, "in", error="")
    add_step(run, "out", status="failed", error="boom: the model said no", attempt=2)
    html = client_for(personas.viewer_a).get(f"/runs/{run.pk}/steps/").content.decode()
    assert f'id="step-{step.pk}"' in html
    assert "boom: the model said no" in html
    assert "$0.000050" in html
    figure = json.loads(client_for(personas.viewer_a).get(f"/runs/{run.pk}/timeline/").content)
    waits, runs = figure["data"]
    assert waits["y"] == ["in", "out"]
    assert runs["x"] == pytest.approx([1000, 1000], abs=1)
    assert runs["marker"]["color"] == ["#1a7f37", "#cf222e"]


def test_dashboards_for_each_persona(personas: Personas) -> None:
    run_a = make_run(personas.team_a, "Alpha")
    add_step(run_a, "writer", cost_usd=Decimal("0.25"), latency_ms=300.0)
    run_b = make_run(personas.team_b, "Beta")
    add_step(run_b, "secret-node", cost_usd=Decimal("9.99"))
    page = client_for(personas.viewer_a).get("/dashboards/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'data-figure-url="/dashboards/cost-model/?range=7d"' in html
    assert client_for(None).get("/dashboards/").status_code == 302

    client = client_for(personas.viewer_a)
    figure = json.loads(client.get("/dashboards/expensive-nodes/", {"range": "24h"}).content)
    assert figure["data"][0]["y"] == ["Alpha · writer"]
    assert figure["data"][0]["x"] == [0.25]
    rows = list(
        csv.reader(io.StringIO(client.get("/dashboards/expensive-nodes.csv").content.decode()))
    )
    assert rows[0] == ["workflow", "node_id", "node_type", "steps", "cost_usd", "tokens"]
    assert rows[1:] == [["Alpha", "writer", "llm", "1", "0.250000", "30"]]
    body = json.dumps(figure) + client.get("/dashboards/cost-workflow.csv").content.decode()
    assert "secret-node" not in body
    assert "Beta" not in body


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"range": "forever"}, "range: 'forever' is not one of"),
        ({"from": "2026-13-45"}, "from: '2026-13-45' is not a date and time"),
        ({"from": "2020-01-01", "to": "2026-01-01"}, "at most 366 days"),
        ({"to": "2026-01-01"}, "from: missing"),
    ],
)
def test_bad_dashboard_range_is_a_clear_400(
    personas: Personas, params: dict[str, str], message: str
) -> None:
    client = client_for(personas.owner_a)
    response = client.get("/dashboards/runs/", params)
    assert response.status_code == 400
    assert message in response.json()["error"]
    csv_response = client.get("/dashboards/runs.csv", params)
    assert csv_response.status_code == 400
    assert message in csv_response.content.decode()
    page = client.get("/dashboards/", params)
    assert page.status_code == 400
    assert (
        "is not" in page.content.decode()
        or "at most" in page.content.decode()
        or "missing" in page.content.decode()
    )
    assert client.get("/dashboards/nope/").status_code == 404


def test_every_chart_answers_with_data(personas: Personas) -> None:
    run = make_run(personas.team_a, "Alpha")
    Run.objects.filter(pk=run.pk).update(
        status="succeeded",
        started_at=timezone.now() - timedelta(seconds=3),
        finished_at=timezone.now() - timedelta(seconds=1),
    )
    add_step(run, "writer")
    client = client_for(personas.owner_a)
    from webapp.monitoring.charts import CHARTS

    for slug in CHARTS:
        response = client.get(f"/dashboards/{slug}/", {"range": "24h"})
        assert response.status_code == 200, slug
        figure = response.json()
        assert sum(len(trace.get("x") or []) for trace in figure["data"]) > 0, slug
        rows = list(csv.reader(io.StringIO(client.get(f"/dashboards/{slug}.csv").content.decode())))
        assert len(rows) >= 2, slug


def test_queue_panel(personas: Personas) -> None:
    html = client_for(personas.viewer_a).get("/dashboards/queues/").content.decode()
    assert 'data-queue="io"' in html
    assert 'data-queue="cpu"' in html


def test_map_steps_are_not_counted_twice_in_costs(personas: Personas) -> None:
    """A map's own step carries the sums of its items; only the items count."""
    run = make_run(personas.team_a, "Alpha")
    add_step(run, "research", item=0, cost_usd=Decimal("0.10"))
    add_step(run, "research", item=1, cost_usd=Decimal("0.20"))
    add_step(run, "research", node_type="map", cost_usd=Decimal("0.30"), tokens_in=20)
    client = client_for(personas.owner_a)
    rows = list(
        csv.DictReader(io.StringIO(client.get("/dashboards/expensive-nodes.csv").content.decode()))
    )
    assert [(r["node_id"], r["node_type"], r["cost_usd"]) for r in rows] == [
        ("research", "llm", "0.300000")
    ]
    tokens = list(
        csv.DictReader(io.StringIO(client.get("/dashboards/tokens.csv").content.decode()))
    )
    assert sum(int(r["tokens_in"]) for r in tokens) == 20


def test_start_a_run_from_the_runs_list(personas: Personas) -> None:
    run = make_run(personas.team_a, "Alpha")  # publishes Alpha
    owner = client_for(personas.owner_a)
    assert "Start a run" in owner.get("/runs/").content.decode()
    assert "Start a run" not in client_for(personas.viewer_a).get("/runs/").content.decode()
    response = owner.post("/runs/start/", {"workflow": run.workflow_id, "inputs": "{}"})
    assert response.status_code == 302
    started = Run.objects.exclude(pk=run.pk).get()
    assert response["Location"] == f"/runs/{started.pk}/"
    assert started.created_by == personas.owner_a
    bad = owner.post("/runs/start/", {"workflow": run.workflow_id, "inputs": "{nope"}, follow=True)
    assert "Inputs are not valid JSON" in bad.content.decode()
    bad = owner.post("/runs/start/", {"workflow": "999999", "inputs": "{}"}, follow=True)
    assert "no workflow named" in bad.content.decode()
    assert (
        client_for(personas.viewer_a)
        .post("/runs/start/", {"workflow": run.workflow_id})
        .status_code
        == 403
    )
    assert client_for(personas.member_b).post(
        "/runs/start/", {"workflow": run.workflow_id}
    ).status_code in (403, 302)
