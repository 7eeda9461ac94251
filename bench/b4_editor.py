"""B4: the editor with a 500-node, 600-edge graph in headless Chromium.

Measures, on the production set-up (DEBUG=0, collected and compressed static
files, uvicorn):
- open: navigation start -> every node of the graph rendered and visible on
  the canvas (a requestAnimationFrame probe counting visible nodes), and ->
  the editor's own "quorum:editor-ready" mark (React Flow's onInit). Target:
  under 1.5 s.
- pan: dragging the canvas background for 2 s; frame intervals (rAF deltas).
- drag: dragging one node for 2 s; frame intervals.
Responsive = median frame under 20 ms (50 fps) and p95 under 50 ms.

Usage: .venv/bin/python -m bench.b4_editor [--nodes 500 --edges 600 --repeat 5]
It uses its own database (quorum_bench_editor, Redis 13; override with
BENCH_EDITOR_DATABASE_URL / BENCH_EDITOR_REDIS_URL) and Debian's Chromium.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Any

from bench import harness
from bench.harness import ROOT, free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "bench-editor-password"  # noqa: S105 (a local bench user on the bench database)

# Counts nodes visible on the canvas each frame; records when all are.
PROBE = """
window.__quorum = { frames: [], allVisibleAt: null, recording: false,
  expected: Number(new URLSearchParams(location.search).get("bench_nodes") || 1) };
(function loop(t) {
  const q = window.__quorum;
  if (q.recording) q.frames.push(t);
  if (q.allVisibleAt === null) {
    const n = document.querySelectorAll('.react-flow__node[style*="visibility: visible"]').length;
    if (n >= q.expected) q.allVisibleAt = performance.now();
  }
  requestAnimationFrame(loop);
})(performance.now());
"""


# The node whose centre is nearest the canvas centre: its id and centre (page px).
PICK_NODE = """(() => {
  const c = document.querySelector('.q-canvas').getBoundingClientRect();
  const cx = c.left + c.width / 2, cy = c.top + c.height / 2;
  let best = null;
  for (const el of document.querySelectorAll('.react-flow__node')) {
    const r = el.getBoundingClientRect();
    const x = r.left + r.width / 2, y = r.top + r.height / 2;
    const d = (x - cx) ** 2 + (y - cy) ** 2;
    if (!best || d < best.d) best = { d, x, y, id: el.dataset.id };
  }
  return best;
})()"""
NODE_BOX = (
    "(id) => document.querySelector(`.react-flow__node[data-id='${id}']`)"
    ".getBoundingClientRect().toJSON()"
)


def big_graph(n_nodes: int, n_edges: int) -> dict[str, Any]:
    """A valid DAG: one input, one output, the rest llm/template/join nodes in a
    grid of 25 columns; each node fed by its left neighbour (or the node above
    at a row start), plus extra edges from the node above until `n_edges`."""
    cols = 25
    kinds = ["llm", "template", "join"]
    nodes = [{"id": "n0", "type": "input", "label": "Input", "config": {"key": "topic"}}]
    for i in range(1, n_nodes - 1):
        kind = kinds[i % 3]
        config = {"template": "{{ input }}"} if kind == "template" else {}
        nodes.append({"id": f"n{i}", "type": kind, "label": f"{kind} {i}", "config": config})
    nodes.append({"id": f"n{n_nodes - 1}", "type": "output", "label": "Result", "config": {}})
    for i, node in enumerate(nodes):
        node["position"] = {"x": (i % cols) * 240, "y": (i // cols) * 140}
    out_port = {"input": "out", "llm": "text", "template": "text", "join": "out", "output": "out"}
    edges: list[dict[str, Any]] = []

    def add(src: int, dst: int) -> None:
        source: dict[str, Any] = nodes[src]
        edges.append(
            {
                "id": f"e{len(edges)}",
                "source": source["id"],
                "source_port": out_port[source["type"]],
                "target": nodes[dst]["id"],
                "target_port": "in",
            }
        )

    for i in range(1, n_nodes):
        add(i - 1 if i % cols else i - cols, i)
    for i in range(cols + 1, n_nodes - 1):
        if len(edges) >= n_edges:
            break
        if i % cols:
            add(i - cols, i)
    return {
        "schema_version": 1,
        "inputs": {"type": "object", "properties": {"topic": {"type": "string"}}},
        "nodes": nodes,
        "edges": edges,
        "outputs": {"result": {"node": nodes[-1]["id"], "port": "out"}},
    }


def frame_stats(frames: list[float]) -> dict[str, float]:
    deltas = [b - a for a, b in itertools.pairwise(frames)]
    if not deltas:
        return {"frames": 0, "median_ms": float("nan"), "p95_ms": float("nan"), "max_ms": 0.0}
    deltas.sort()
    return {
        "frames": len(deltas),
        "median_ms": statistics.median(deltas),
        "p95_ms": deltas[min(len(deltas) - 1, int(len(deltas) * 0.95))],
        "max_ms": deltas[-1],
    }


def start_server(static_root: str) -> tuple[subprocess.Popen[bytes], str]:
    # Production settings, except TLS: the bench talks plain HTTP on loopback.
    env = dict(
        os.environ,
        DEBUG="0",
        STATIC_ROOT=static_root,
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="0",
        SECURE_HSTS_SECONDS="0",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
    )
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=env,
        check=True,
    )
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "webapp.asgi:application", "--port", str(port)]
    proc = subprocess.Popen(
        [*command, "--log-level", "warning"],
        cwd=ROOT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url + "/healthz", timeout=1)  # noqa: S310 (our own server)
            return proc, url
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise SystemExit("uvicorn did not start") from None
            time.sleep(0.2)


def wait_until_all_visible(page: Any, timeout_s: float = 60) -> float:
    """Poll the probe until it saw every node visible; its time (ms from
    navigation start). Polls with page.evaluate: the page's CSP (no eval)
    refuses Playwright's wait_for_function. The figure is the probe's own
    rAF time, so the polling interval does not change it."""
    deadline = time.monotonic() + timeout_s
    while True:
        at = page.evaluate("window.__quorum.allVisibleAt")
        if at is not None:
            return float(at)
        if time.monotonic() > deadline:
            raise SystemExit("the nodes never all became visible")
        time.sleep(0.05)


def measure(page: Any, url: str) -> dict[str, Any]:
    page.goto(url)
    wait_until_all_visible(page)
    opened = page.evaluate("window.__quorum.allVisibleAt")
    ready = page.evaluate(
        "(performance.getEntriesByName('quorum:editor-ready')[0] || {}).startTime || null"
    )
    box = page.locator(".q-canvas").bounding_box()
    marks = page.evaluate(
        "Object.fromEntries(performance.getEntriesByType('mark')"
        ".map(m => [m.name.replace('quorum:', ''), Math.round(m.startTime)]))"
    )
    nav = page.evaluate(
        "(() => { const n = performance.getEntriesByType('navigation')[0];"
        " return {html: Math.round(n.responseEnd),"
        " dom: Math.round(n.domContentLoadedEventEnd)}; })()"
    )
    result: dict[str, Any] = {"open_ms": opened, "ready_ms": ready, "marks": nav | marks}
    # Pan: drag the empty background (the pane) for ~2 s.
    cx, cy = box["x"] + box["width"] - 30, box["y"] + 30
    result["pan"] = _gesture(page, cx, cy, -300, 200)
    # Drag one node for ~2 s: the node nearest the canvas centre after the pan.
    # (Until 2026-11 this took node n/2, which the pan had moved out of the
    # canvas: the "drag" pressed on the page beside the canvas and moved no node.)
    pick = page.evaluate(PICK_NODE)
    moved_from = page.evaluate(NODE_BOX, pick["id"])
    result["drag"] = _gesture(page, pick["x"], pick["y"], 200, 120)
    if page.evaluate(NODE_BOX, pick["id"]) == moved_from:
        raise SystemExit(f"the drag did not move node {pick['id']}")
    return result


def _gesture(page: Any, x: float, y: float, dx: float, dy: float) -> dict[str, float]:
    page.evaluate("window.__quorum.frames = []; window.__quorum.recording = true")
    page.mouse.move(x, y)
    page.mouse.down()
    steps = 120
    for i in range(1, steps + 1):
        page.mouse.move(x + dx * i / steps, y + dy * i / steps)
        page.wait_for_timeout(16)
    page.mouse.up()
    frames = page.evaluate("window.__quorum.recording = false; window.__quorum.frames")
    return frame_stats(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--edges", type=int, default=600)
    parser.add_argument("--repeat", type=int, default=5, help="page loads (fresh context each)")
    args = parser.parse_args()
    if not os.path.exists(CHROMIUM):
        raise SystemExit(f"{CHROMIUM} is missing: scripts/ensure-chromium.sh installs it")

    # Its own database and Redis db: B4 needs no workers, and the other
    # benchmarks' lock (per database) need not be taken from them.
    harness.DATABASE_URL = os.environ.get(
        "BENCH_EDITOR_DATABASE_URL", "postgres://localhost:5432/quorum_bench_editor"
    )
    harness.REDIS_URL = os.environ.get("BENCH_EDITOR_REDIS_URL", "redis://localhost:6379/13")
    harness.configure()
    from django.contrib.auth.models import User

    from orchestration.validation import validate
    from webapp.accounts.models import Membership, Role
    from webapp.workflows.services import do_create_workflow

    team = harness.bench_team()
    user, _ = User.objects.get_or_create(username="bench-editor")
    user.set_password(PASSWORD)
    user.save()
    Membership.objects.get_or_create(user=user, team=team, defaults={"role": Role.OWNER})
    document = big_graph(args.nodes, args.edges)
    errors = [p for p in validate(document) if p.severity == "error"]
    if errors:
        raise SystemExit(f"bench graph is invalid: {errors[:3]}")
    name = f"b4-{args.nodes}-{int(time.time())}"
    workflow = do_create_workflow(team, name, graph=document)
    # Baseline measured in the same run: the same page with a 10-node graph
    # (page, bundle and API cost without the graph's size).
    small = do_create_workflow(team, name + "-small", graph=big_graph(10, 9))
    print(f"B4 editor: {args.nodes} nodes, {len(document['edges'])} edges; {harness.machine()}")

    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as static_root:
        proc, base = start_server(static_root)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                results = []
                for i in range(args.repeat):
                    context = browser.new_context(viewport={"width": 1600, "height": 1000})
                    context.add_init_script(PROBE)
                    page = context.new_page()
                    page.goto(base + "/accounts/login/")
                    page.get_by_label("Username").fill(user.username)
                    page.get_by_label("Password").fill(PASSWORD)
                    page.get_by_role("button", name="Sign in").click()
                    page.wait_for_url(base + "/")
                    page.goto(f"{base}/workflows/{small.pk}/?bench_nodes=10")
                    baseline = wait_until_all_visible(page)
                    url = f"{base}/workflows/{workflow.pk}/?bench_nodes={args.nodes}"
                    result = measure(page, url)
                    result["baseline_ms"] = baseline
                    results.append(result)
                    print(
                        f"  load {i + 1}: open {result['open_ms']:.0f} ms "
                        f"(ready mark {result['ready_ms'] or float('nan'):.0f} ms); "
                        f"pan median {result['pan']['median_ms']:.1f} ms "
                        f"p95 {result['pan']['p95_ms']:.1f} ms; "
                        f"drag median {result['drag']['median_ms']:.1f} ms "
                        f"p95 {result['drag']['p95_ms']:.1f} ms\n"
                        f"    timeline (ms from navigation start): {result['marks']}"
                    )
                    context.close()
                browser.close()
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    report(results)


def report(results: list[dict[str, Any]]) -> None:
    opens = sorted(r["open_ms"] for r in results)
    med = statistics.median(opens)
    base = statistics.median(r["baseline_ms"] for r in results)
    pan_med = statistics.median(r["pan"]["median_ms"] for r in results)
    pan_p95 = statistics.median(r["pan"]["p95_ms"] for r in results)
    drag_med = statistics.median(r["drag"]["median_ms"] for r in results)
    drag_p95 = statistics.median(r["drag"]["p95_ms"] for r in results)
    print(
        harness.table(
            ["measure", "median", "target", "ratio to target"],
            [
                ["open (all nodes visible)", f"{med:.0f} ms", "1500 ms", f"{med / 1500:.2f}"],
                ["open, 10-node baseline", f"{base:.0f} ms", "", f"x{med / base:.1f} (500 / 10)"],
                ["pan frame, median", f"{pan_med:.1f} ms", "20 ms", f"{pan_med / 20:.2f}"],
                ["pan frame, p95", f"{pan_p95:.1f} ms", "50 ms", f"{pan_p95 / 50:.2f}"],
                ["drag frame, median", f"{drag_med:.1f} ms", "20 ms", f"{drag_med / 20:.2f}"],
                ["drag frame, p95", f"{drag_p95:.1f} ms", "50 ms", f"{drag_p95 / 50:.2f}"],
            ],
        )
    )
    ok = med < 1500 and pan_med < 20 and pan_p95 < 50 and drag_med < 20 and drag_p95 < 50
    print("B4:", "meets its targets" if ok else "MISSES a target")


if __name__ == "__main__":
    main()
