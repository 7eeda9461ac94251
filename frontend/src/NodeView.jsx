// One node on the canvas: title, type, one handle per port, problem and run
// state markers. Memoised: dragging one node re-renders only that node.
import { createContext, memo, useContext, useEffect, useRef } from "react";
import { Handle, Position, useUpdateNodeInternals } from "@xyflow/react";
import { portsOf } from "./graph.js";

/** {byType, problems: {nodeId: [problem]}, run: {nodeId: {state}}} */
export const DecorContext = createContext({ byType: {}, problems: {}, run: {} });

function NodeView({ id, data, selected }) {
  const { byType, problems, run } = useContext(DecorContext);
  const entry = byType[data.type];
  const { inputs, outputs } = portsOf(entry, data.config);
  const updateInternals = useUpdateNodeInternals();
  const portKey = `${inputs.map((p) => p.name).join(",")}|${outputs.map((p) => p.name).join(",")}`;
  // React Flow measures handles on mount; re-measure only when the ports change
  // (a router's routes). Calling it on every mount is quadratic on big graphs.
  const mountedKey = useRef(portKey);
  useEffect(() => {
    if (mountedKey.current !== portKey) {
      mountedKey.current = portKey;
      updateInternals(id);
    }
  }, [id, portKey, updateInternals]);
  const mine = problems[id] || [];
  const errors = mine.filter((p) => p.severity !== "warning");
  const state = run[id]?.state;
  const classes = ["q-node", `q-cat-${(entry?.category || "x").toLowerCase().replace(/[^a-z]+/g, "-")}`];
  if (errors.length) classes.push("has-error");
  else if (mine.length) classes.push("has-warning");
  if (state) classes.push(`run-${state}`);
  if (selected) classes.push("selected");
  return (
    <div className={classes.join(" ")} data-node-id={id} data-run-state={state || ""} title={mine.map((p) => p.message).join("\n") || undefined}>
      <div className="q-node-head">
        <span className="q-node-label">{data.label || id}</span>
        {mine.length > 0 && (
          <span className="q-node-badge" aria-label={`${mine.length} problem(s)`}>
            {mine.length}
          </span>
        )}
      </div>
      <div className="q-node-type">
        {entry ? entry.title : `unknown type ${data.type}`}
        {state ? ` · ${state}` : ""}
      </div>
      {/* Ports in a two-column grid (inputs left, outputs right), handles in
          the flow on the node's edges: no positioned or transformed element per
          port, so a node is one paint layer, not six (B4, docs/benchmarks.md). */}
      <div className="q-node-ports">
        {inputs.map((p) => (
          <div key={`in-${p.name}`} className="q-port q-port-in">
            <Handle type="target" position={Position.Left} id={p.name} className={`q-handle t-${p.type}`} title={`${p.name}: ${p.type}${p.required ? ", required" : ""}${p.multiple ? ", many edges" : ""}`} />
            <span>{p.name}</span>
          </div>
        ))}
        {outputs.map((p) => (
          <div key={`out-${p.name}`} className="q-port q-port-out">
            <span>{p.name}</span>
            <Handle type="source" position={Position.Right} id={p.name} className={`q-handle t-${p.type}`} title={`${p.name}: ${p.type}`} />
          </div>
        ))}
      </div>
    </div>
  );
}

export default memo(NodeView);
