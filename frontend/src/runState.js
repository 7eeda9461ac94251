// A test run's node states from its event stream (or, as a fallback, from
// polled run details). Pure; unit-tested by test/runState.test.js.
//
// Node states: queued, running, succeeded, failed, skipped, cancelled.

const STEP_STATE = {
  "step.queued": "queued",
  "step.started": "running",
  "step.succeeded": "succeeded",
  "step.skipped": "skipped",
  "step.cancelled": "cancelled",
  "step.retrying": "queued",
};

const RUN_STATE = {
  "run.queued": "queued",
  "run.started": "running",
  "run.succeeded": "succeeded",
  "run.failed": "failed",
  "run.cancelled": "cancelled",
  "run.waiting": "running",
};

export const TERMINAL_RUN = new Set(["succeeded", "failed", "cancelled"]);

export function emptyRun(runId) {
  return { runId, status: "queued", lastSeq: 0, nodes: {}, error: "", tokens: {} };
}

/** Apply one server event message ({seq, event, payload}) to `run`. A seq
 *  already applied is ignored (a replay overlapping the live stream); an older
 *  event filling a gap never overrides a newer one's state. */
export function applyEvent(run, message) {
  const seen = run.seen || new Set();
  if (seen.has(message.seq)) return run;
  const next = { ...run, lastSeq: Math.max(run.lastSeq, message.seq), seen: new Set(seen).add(message.seq) };
  const p = message.payload || {};
  if (RUN_STATE[message.event]) {
    if (message.seq < run.lastSeq && run.status !== "queued") return next;
    next.status = RUN_STATE[message.event];
    if (message.event === "run.failed") next.error = p.error || "";
    return next;
  }
  let state = STEP_STATE[message.event];
  if (message.event === "step.failed") state = p.will_retry ? "queued" : "failed";
  if (!state || !p.node_id) return next;
  const items = { ...(run.nodes[p.node_id]?.items || {}) };
  const seqs = { ...(run.nodes[p.node_id]?.seqs || {}) };
  const key = p.item ?? "-";
  if ((seqs[key] ?? 0) > message.seq) return next;
  items[key] = state;
  seqs[key] = message.seq;
  next.nodes = { ...run.nodes, [p.node_id]: { state: combine(Object.values(items)), items, seqs } };
  return next;
}

/** One state for a node from its instances' (map items') states. */
export function combine(states) {
  for (const s of ["failed", "running", "queued"]) if (states.includes(s)) return s;
  if (states.includes("succeeded")) return "succeeded";
  if (states.includes("cancelled")) return "cancelled";
  return states.length ? "skipped" : "queued";
}

/** The run's node states from GET /api/runs/{id} (polling fallback): the
 *  latest attempt of each (node, iteration, item) decides. */
export function fromRunDetail(run, detail) {
  const latest = {};
  for (const step of detail.steps || []) {
    const key = `${step.node_id}|${step.iteration}|${step.item ?? "-"}`;
    if (!latest[key] || latest[key].attempt <= step.attempt) latest[key] = step;
  }
  const perNode = {};
  for (const step of Object.values(latest)) {
    const state = step.status === "waiting" ? "running" : step.status;
    (perNode[step.node_id] ||= {})[step.item ?? "-"] = state;
  }
  const nodes = {};
  for (const [id, items] of Object.entries(perNode)) nodes[id] = { state: combine(Object.values(items)), items };
  return { ...run, status: detail.status, error: detail.error || "", nodes };
}

/** A step's inputs, derived from the outputs of the upstream nodes' latest
 *  succeeded steps along the node's incoming edges: {port: value or [values]}. */
export function stepInputs(nodeId, edges, steps) {
  const done = {};
  for (const s of steps) if (s.status === "succeeded") done[s.node_id] = s;
  const inputs = {};
  for (const e of edges.filter((x) => x.target === nodeId)) {
    const src = done[e.source];
    if (!src || !src.outputs || !(e.sourceHandle in src.outputs)) continue;
    const value = src.outputs[e.sourceHandle];
    const port = e.targetHandle;
    if (port in inputs) inputs[port] = [].concat(inputs[port], [value]);
    else inputs[port] = value;
  }
  return inputs;
}
