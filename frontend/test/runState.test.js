import { test } from "node:test";
import assert from "node:assert/strict";
import { applyEvent, emptyRun, fromRunDetail, stepInputs } from "../src/runState.js";

const ev = (seq, event, payload = {}) => ({ type: "event", seq, event, payload });

test("events colour nodes; replayed events are ignored; a late gap fill never regresses", () => {
  let run = emptyRun(7);
  run = applyEvent(run, ev(1, "run.started"));
  run = applyEvent(run, ev(2, "step.queued", { node_id: "a", item: null }));
  run = applyEvent(run, ev(4, "step.succeeded", { node_id: "a", item: null }));
  run = applyEvent(run, ev(3, "step.started", { node_id: "a", item: null }));
  assert.equal(run.nodes.a.state, "succeeded");
  run = applyEvent(run, ev(5, "step.failed", { node_id: "b", will_retry: true }));
  assert.equal(run.nodes.b.state, "queued");
  run = applyEvent(run, ev(6, "step.failed", { node_id: "b", will_retry: false }));
  run = applyEvent(run, ev(6, "step.succeeded", { node_id: "b" }));
  assert.equal(run.nodes.b.state, "failed");
  run = applyEvent(run, ev(7, "run.failed", { error: "b failed" }));
  assert.equal(run.status, "failed");
  assert.equal(run.error, "b failed");
});

test("a map node is running while any item runs", () => {
  let run = emptyRun(1);
  run = applyEvent(run, ev(1, "step.succeeded", { node_id: "m", item: 0 }));
  run = applyEvent(run, ev(2, "step.started", { node_id: "m", item: 1 }));
  assert.equal(run.nodes.m.state, "running");
  run = applyEvent(run, ev(3, "step.succeeded", { node_id: "m", item: 1 }));
  assert.equal(run.nodes.m.state, "succeeded");
});

test("polled run details: the latest attempt decides", () => {
  const run = fromRunDetail(emptyRun(1), {
    status: "running",
    steps: [
      { node_id: "a", iteration: 0, item: null, attempt: 1, status: "failed" },
      { node_id: "a", iteration: 0, item: null, attempt: 2, status: "running" },
      { node_id: "b", iteration: 0, item: null, attempt: 1, status: "skipped" },
    ],
  });
  assert.equal(run.nodes.a.state, "running");
  assert.equal(run.nodes.b.state, "skipped");
});

test("a step's inputs come from its upstream nodes' outputs along its edges", () => {
  const edges = [
    { source: "a", sourceHandle: "out", target: "c", targetHandle: "in" },
    { source: "b", sourceHandle: "text", target: "c", targetHandle: "in" },
  ];
  const steps = [
    { node_id: "a", status: "succeeded", outputs: { out: 1 } },
    { node_id: "b", status: "succeeded", outputs: { text: "hi" } },
  ];
  assert.deepEqual(stepInputs("c", edges, steps), { in: [1, "hi"] });
});
