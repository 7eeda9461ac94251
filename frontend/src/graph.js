// The graph document <-> React Flow mapping, ports and connection rules.
// Pure functions (no React): unit-tested by test/graph.test.js.
//
// Graph document (orchestration/graph.py): {schema_version, nodes: [{id, type,
// label, config, position}], edges: [{id, source, source_port, target,
// target_port}], inputs: JSON Schema, outputs: {name: {node, port}}}.

export const NODE_KIND = "quorum";
// React Flow's default role "group" matches Pico's input-group rules (with
// :has() selectors), which made styling a 500-node graph slow (B4).
export const NODE_ROLE = "figure";
export const EDGE_ROLE = "figure";

/** Catalogue entries keyed by type name. */
export function indexCatalogue(nodeTypes) {
  const byType = {};
  for (const entry of nodeTypes) byType[entry.type] = entry;
  return byType;
}

/** Input and output ports of a node, given its type entry and config.
 *  A router's outputs are its route names plus `default` (as the engine's
 *  RouterNode.outputs_for does). */
export function portsOf(entry, config) {
  if (!entry) return { inputs: [], outputs: [] };
  let outputs = entry.outputs || [];
  if (entry.type === "router") {
    const routes = Array.isArray(config?.routes) ? config.routes : [];
    const names = routes.map((r) => r && r.name).filter((n) => typeof n === "string" && n);
    outputs = [...new Set([...names, "default"])].map((name) => ({
      name,
      type: "any",
      required: false,
      multiple: false,
      description: name === "default" ? "when no route matches" : `route ${name}`,
    }));
  }
  return { inputs: entry.inputs || [], outputs };
}

/** The document's nodes and edges as React Flow nodes and edges. */
export function graphToFlow(graph) {
  const doc = graph || {};
  const nodes = (doc.nodes || []).map((n) => ({
    id: n.id,
    type: NODE_KIND,
    ariaRole: NODE_ROLE,
    position: { x: n.position?.x ?? 0, y: n.position?.y ?? 0 },
    data: { type: n.type, label: n.label || "", config: n.config || {} },
  }));
  const edges = (doc.edges || []).map((e) => ({
    id: e.id,
    ariaRole: EDGE_ROLE,
    source: e.source,
    target: e.target,
    sourceHandle: e.source_port || "out",
    targetHandle: e.target_port || "in",
  }));
  return { nodes, edges };
}

/** Name of a run output fed by an `output` node: its label or id, as an identifier. */
export function outputName(node) {
  const base = (node.data.label || node.id).trim().toLowerCase().replace(/[^a-z0-9_]+/g, "_");
  return base.replace(/^_+|_+$/g, "") || node.id;
}

/** React Flow state back to a graph document. `base` supplies `inputs` and the
 *  outputs that point at non-`output` nodes; every `output` node becomes a run
 *  output named after its label. */
export function flowToGraph(nodes, edges, base = {}) {
  const ids = new Set(nodes.map((n) => n.id));
  const outputs = {};
  for (const [name, ref] of Object.entries(base.outputs || {})) {
    const node = nodes.find((n) => n.id === ref.node);
    if (node && node.data.type !== "output") outputs[name] = ref;
  }
  for (const node of nodes) {
    if (node.data.type !== "output") continue;
    let name = outputName(node);
    while (outputs[name] && outputs[name].node !== node.id) name += "_";
    outputs[name] = { node: node.id, port: "out" };
  }
  return {
    schema_version: base.schema_version ?? 1,
    nodes: nodes.map((n) => ({
      id: n.id,
      type: n.data.type,
      label: n.data.label || "",
      config: n.data.config || {},
      position: { x: Math.round(n.position.x), y: Math.round(n.position.y) },
    })),
    edges: edges
      .filter((e) => ids.has(e.source) && ids.has(e.target))
      .map((e) => ({
        id: e.id,
        source: e.source,
        source_port: e.sourceHandle || "out",
        target: e.target,
        target_port: e.targetHandle || "in",
      })),
    inputs: base.inputs || { type: "object", properties: {} },
    outputs,
  };
}

/** A fresh id for a node of `type`: "<type>_<n>", usable as a template variable. */
export function newNodeId(type, existingIds) {
  const taken = new Set(existingIds);
  const stem = type.replace(/[^a-z0-9_]/gi, "_");
  for (let n = 1; ; n += 1) {
    const id = `${stem}_${n}`;
    if (!taken.has(id)) return id;
  }
}

/** A fresh edge id. */
export function newEdgeId(source, sourcePort, target, targetPort, existingIds) {
  const taken = new Set(existingIds);
  const stem = `${source}.${sourcePort}-${target}.${targetPort}`;
  let id = stem;
  for (let n = 2; taken.has(id); n += 1) id = `${stem}#${n}`;
  return id;
}

/** Why connecting source.sourcePort -> target.targetPort is refused, or null
 *  when it is allowed. `compatible` is the server's rule table
 *  {source type: [target types]} from /api/editor/catalogue. */
export function connectionProblem(conn, nodes, edges, byType, compatible) {
  const { source, target, sourceHandle, targetHandle } = conn;
  if (source === target) return "A node cannot connect to itself.";
  const src = nodes.find((n) => n.id === source);
  const dst = nodes.find((n) => n.id === target);
  if (!src || !dst) return "Both ends must be nodes.";
  const out = portsOf(byType[src.data.type], src.data.config).outputs.find(
    (p) => p.name === sourceHandle,
  );
  const inp = portsOf(byType[dst.data.type], dst.data.config).inputs.find(
    (p) => p.name === targetHandle,
  );
  if (!out) return `${src.id} has no output port "${sourceHandle}".`;
  if (!inp) return `${dst.id} has no input port "${targetHandle}".`;
  const allowed = compatible?.[out.type] || [];
  if (!allowed.includes(inp.type)) {
    return `Port types do not match: ${src.id}.${out.name} gives ${out.type}, ${dst.id}.${inp.name} takes ${inp.type}.`;
  }
  const dup = edges.some(
    (e) =>
      e.source === source &&
      e.target === target &&
      e.sourceHandle === sourceHandle &&
      e.targetHandle === targetHandle,
  );
  if (dup) return "These ports are already connected.";
  if (!inp.multiple && edges.some((e) => e.target === target && e.targetHandle === targetHandle)) {
    return `Input ${dst.id}.${inp.name} takes one edge; delete the existing one first.`;
  }
  return null;
}

/** Variables a node's templates can use: `input`, `inputs`, and the ids of
 *  the nodes with an edge into it (docs/engine.md, "Expressions and templates"). */
export function upstreamVariables(nodeId, nodes, edges) {
  const sources = edges.filter((e) => e.target === nodeId).map((e) => e.source);
  const names = ["input", "inputs", ...new Set(sources)];
  const node = nodes.find((n) => n.id === nodeId);
  if (node && node.data.type === "map") names.push("item", "index", "context");
  return names;
}

/** Run-inputs JSON Schema implied by the `input` nodes: one required string
 *  property per `key`, keeping the richer property schemas already in
 *  `current`. Properties no input node reads any more are dropped, unless an
 *  input node without a key passes the whole inputs object on. */
export function inputsSchemaFor(nodes, current) {
  const base = current && typeof current === "object" ? current : {};
  const inputs = nodes.filter((n) => n.data.type === "input");
  const keys = [...new Set(inputs.map((n) => n.data.config?.key).filter((k) => k))];
  const keepAll = inputs.some((n) => !n.data.config?.key);
  const old = base.properties || {};
  const props = keepAll ? { ...old } : {};
  for (const key of keys) props[key] = old[key] || { type: "string" };
  const required = [...new Set([...(base.required || []).filter((k) => props[k]), ...keys])];
  return { ...base, type: "object", properties: props, required };
}

/** Summary of what changed from graph `a` to graph `b`: node and edge ids
 *  added, removed and (for nodes) changed. Same rules as the server's diff. */
export function diffGraphs(a, b) {
  const index = (items) => Object.fromEntries((items || []).map((x) => [x.id, x]));
  const na = index(a?.nodes);
  const nb = index(b?.nodes);
  const ea = index(a?.edges);
  const eb = index(b?.edges);
  const same = (x, y) =>
    JSON.stringify([x.type, x.label, x.config]) === JSON.stringify([y.type, y.label, y.config]);
  return {
    nodes_added: Object.keys(nb).filter((id) => !na[id]),
    nodes_removed: Object.keys(na).filter((id) => !nb[id]),
    nodes_changed: Object.keys(nb).filter((id) => na[id] && !same(na[id], nb[id])),
    edges_added: Object.keys(eb).filter((id) => !ea[id]),
    edges_removed: Object.keys(ea).filter((id) => !eb[id]),
  };
}

/** Copy: the selected nodes and the edges between them. Paste: fresh ids,
 *  offset positions. */
export function copySelection(nodes, edges) {
  const picked = nodes.filter((n) => n.selected);
  const ids = new Set(picked.map((n) => n.id));
  return {
    nodes: picked.map((n) => ({ id: n.id, position: n.position, data: n.data })),
    edges: edges.filter((e) => ids.has(e.source) && ids.has(e.target)),
  };
}

export function pasteClipboard(clip, nodes, edges, offset = 40) {
  const ids = nodes.map((n) => n.id);
  const rename = {};
  const added = clip.nodes.map((n) => {
    const id = newNodeId(n.data.type, [...ids, ...Object.values(rename)]);
    rename[n.id] = id;
    return {
      id,
      type: NODE_KIND,
      ariaRole: NODE_ROLE,
      position: { x: n.position.x + offset, y: n.position.y + offset },
      data: structuredClone(n.data),
      selected: true,
    };
  });
  const edgeIds = edges.map((e) => e.id);
  const addedEdges = clip.edges.map((e) => {
    const source = rename[e.source];
    const target = rename[e.target];
    const id = newEdgeId(source, e.sourceHandle, target, e.targetHandle, edgeIds);
    edgeIds.push(id);
    return { ...e, id, source, target, selected: false };
  });
  return {
    nodes: [...nodes.map((n) => ({ ...n, selected: false })), ...added],
    edges: [...edges, ...addedEdges],
  };
}
