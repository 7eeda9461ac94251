import { test } from "node:test";
import assert from "node:assert/strict";
import {
  connectionProblem,
  copySelection,
  diffGraphs,
  flowToGraph,
  graphToFlow,
  indexCatalogue,
  inputsSchemaFor,
  newNodeId,
  pasteClipboard,
  portsOf,
  upstreamVariables,
} from "../src/graph.js";

const catalogue = indexCatalogue([
  { type: "input", title: "Input", category: "Input/Output", inputs: [], outputs: [{ name: "out", type: "any" }] },
  { type: "llm", title: "LLM", category: "Agents", inputs: [{ name: "in", type: "any", multiple: true }], outputs: [{ name: "text", type: "text" }, { name: "json", type: "any" }] },
  { type: "output", title: "Output", category: "Input/Output", inputs: [{ name: "in", type: "any", multiple: false }], outputs: [{ name: "out", type: "any" }] },
  { type: "map", title: "Map", category: "Control flow", inputs: [{ name: "items", type: "list" }], outputs: [{ name: "results", type: "list" }] },
  { type: "router", title: "Router", category: "Control flow", inputs: [{ name: "in", type: "any" }], outputs: [{ name: "default", type: "any" }] },
]);
const compatible = { any: ["any", "text", "json", "list", "number", "boolean"], text: ["any", "text"], json: ["any", "json", "text"], list: ["any", "list", "text"], number: ["any", "number", "text"], boolean: ["any", "boolean", "text"] };

const doc = {
  schema_version: 1,
  nodes: [
    { id: "ask", type: "input", label: "Ask", config: { key: "q" }, position: { x: 0, y: 10 } },
    { id: "llm_1", type: "llm", label: "Agent", config: { prompt: "{{ input }}" }, position: { x: 200, y: 10 } },
    { id: "answer", type: "output", label: "Answer", config: {}, position: { x: 400, y: 10 } },
  ],
  edges: [
    { id: "e1", source: "ask", source_port: "out", target: "llm_1", target_port: "in" },
    { id: "e2", source: "llm_1", source_port: "text", target: "answer", target_port: "in" },
  ],
  inputs: { type: "object", properties: { q: { type: "string", description: "the question" } }, required: ["q"] },
  outputs: { answer: { node: "answer", port: "out" } },
};

test("graph -> flow -> graph is lossless", () => {
  const { nodes, edges } = graphToFlow(doc);
  assert.equal(nodes[1].data.config.prompt, "{{ input }}");
  assert.equal(edges[1].sourceHandle, "text");
  assert.deepEqual(flowToGraph(nodes, edges, doc), doc);
});

test("positions are rounded and edges to missing nodes dropped", () => {
  const { nodes, edges } = graphToFlow(doc);
  nodes[0].position = { x: 1.6, y: 2.2 };
  const out = flowToGraph(nodes.slice(0, 2), edges, doc);
  assert.deepEqual(out.nodes[0].position, { x: 2, y: 2 });
  assert.deepEqual(out.edges.map((e) => e.id), ["e1"]);
  assert.deepEqual(out.outputs, {}, "the output node is gone, so is its output");
});

test("every output node becomes a run output named by its label", () => {
  const { nodes, edges } = graphToFlow(doc);
  nodes[2].data.label = "Final Answer!";
  assert.deepEqual(flowToGraph(nodes, edges, { ...doc, outputs: {} }).outputs, { final_answer: { node: "answer", port: "out" } });
});

test("a router's output ports are its routes plus default", () => {
  const ports = portsOf(catalogue.router, { routes: [{ name: "billing" }, { name: "tech" }, { name: "" }] });
  assert.deepEqual(ports.outputs.map((p) => p.name), ["billing", "tech", "default"]);
});

test("connections: incompatible types, one-edge ports and self loops are refused with a reason", () => {
  const flow = graphToFlow(doc);
  flow.nodes.push({ id: "map_1", type: "quorum", position: { x: 0, y: 0 }, data: { type: "map", config: {} } });
  const refuse = (c) => connectionProblem(c, flow.nodes, flow.edges, catalogue, compatible);
  assert.match(refuse({ source: "llm_1", sourceHandle: "text", target: "map_1", targetHandle: "items" }), /text.*takes list/);
  assert.match(refuse({ source: "ask", sourceHandle: "out", target: "answer", targetHandle: "in" }), /takes one edge/);
  assert.match(refuse({ source: "llm_1", sourceHandle: "text", target: "llm_1", targetHandle: "in" }), /itself/);
  assert.match(refuse({ source: "ask", sourceHandle: "out", target: "llm_1", targetHandle: "in" }), /already connected/);
  assert.equal(refuse({ source: "ask", sourceHandle: "out", target: "map_1", targetHandle: "items" }), null);
});

test("new node ids are identifiers that do not clash", () => {
  assert.equal(newNodeId("llm", ["llm_1", "llm_2"]), "llm_3");
});

test("upstream variables list the sources of incoming edges", () => {
  const flow = graphToFlow(doc);
  assert.deepEqual(upstreamVariables("llm_1", flow.nodes, flow.edges), ["input", "inputs", "ask"]);
});

test("input nodes imply the run-inputs schema, keeping richer properties", () => {
  const flow = graphToFlow(doc);
  flow.nodes.push({ id: "input_2", type: "quorum", position: { x: 0, y: 0 }, data: { type: "input", config: { key: "lang" } } });
  const schema = inputsSchemaFor(flow.nodes, doc.inputs);
  assert.equal(schema.properties.q.description, "the question");
  assert.deepEqual(schema.properties.lang, { type: "string" });
  assert.deepEqual(schema.required, ["q", "lang"]);
});

test("renaming an input key drops the old property", () => {
  const flow = graphToFlow(doc);
  flow.nodes[0].data.config = { key: "ticket" };
  const schema = inputsSchemaFor(flow.nodes, doc.inputs);
  assert.deepEqual(Object.keys(schema.properties), ["ticket"]);
  assert.deepEqual(schema.required, ["ticket"]);
  flow.nodes[0].data.config = { key: null };
  assert.deepEqual(inputsSchemaFor(flow.nodes, doc.inputs).properties, doc.inputs.properties);
});

test("copy and paste keep the edges between copied nodes under fresh ids", () => {
  const flow = graphToFlow(doc);
  flow.nodes[0].selected = true;
  flow.nodes[1].selected = true;
  const clip = copySelection(flow.nodes, flow.edges);
  assert.equal(clip.edges.length, 1);
  const pasted = pasteClipboard(clip, flow.nodes, flow.edges);
  assert.equal(pasted.nodes.length, 5);
  const fresh = pasted.nodes.slice(3);
  assert.deepEqual(fresh.map((n) => n.id), ["input_1", "llm_2"]);
  const edge = pasted.edges[2];
  assert.deepEqual([edge.source, edge.target], ["input_1", "llm_2"]);
  assert.deepEqual(fresh[0].position, { x: 40, y: 50 });
});

test("diff lists added, removed and changed nodes and edges", () => {
  const b = structuredClone(doc);
  b.nodes[1].config.prompt = "changed";
  b.nodes[0].position.x = 99; // moving is not a change
  b.nodes.pop();
  b.edges.pop();
  const d = diffGraphs(doc, b);
  assert.deepEqual(d, { nodes_added: [], nodes_removed: ["answer"], nodes_changed: ["llm_1"], edges_added: [], edges_removed: ["e2"] });
});
