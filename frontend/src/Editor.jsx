// The workflow editor: canvas, palette, settings, problems, autosave,
// publish, test run. State lives here; pure logic is in graph.js,
// schemaForm.js, history.js and runState.js.
import { memo, useCallback, useEffect, useMemo, useRef, useState } from "react";
import {
  Background,
  Controls,
  MiniMap,
  ReactFlow,
  ReactFlowProvider,
  applyEdgeChanges,
  applyNodeChanges,
  useReactFlow,
} from "@xyflow/react";
import { api, problemsOf } from "./api.js";
import {
  EDGE_ROLE,
  NODE_KIND,
  NODE_ROLE,
  connectionProblem,
  copySelection,
  flowToGraph,
  graphToFlow,
  indexCatalogue,
  inputsSchemaFor,
  newEdgeId,
  newNodeId,
  pasteClipboard,
  upstreamVariables,
} from "./graph.js";
import { emptyHistory, record, redo, undo } from "./history.js";
import { followRun } from "./liveRun.js";
import { emptyRun } from "./runState.js";
import NodeView, { DecorContext } from "./NodeView.jsx";
import Palette, { DRAG_TYPE } from "./Palette.jsx";
import SettingsPanel from "./SettingsPanel.jsx";
import { RunForm, RunStatus, StepDetails } from "./RunPanel.jsx";
import { Shortcuts, useShortcuts } from "./Shortcuts.jsx";
import { exportFile, importFile } from "./files.js";

const nodeTypes = { [NODE_KIND]: NodeView };
const SAVE_DELAY_MS = 700;
const BACKGROUND_MAX_NODES = 200;
const VALIDATE_DELAY_MS = 300;
/** The first place at or below `start` where a new node overlaps no other. */
function freeSpot(nodes, start) {
  const w = 190;
  const h = 80;
  const at = { ...start };
  for (let i = 0; i < 50; i += 1) {
    const clash = nodes.some((n) => Math.abs(n.position.x - at.x) < w && Math.abs(n.position.y - at.y) < h);
    if (!clash) return at;
    at.y += h;
  }
  return at;
}

/** `next`, or `prev` when it lists the same problems: an unchanged result (the
 *  usual one after a drag) then re-renders none of the nodes (B4). */
function sameProblems(prev, next) {
  return JSON.stringify(prev) === JSON.stringify(next) ? prev : next;
}

const strip = (items) => items.map(({ selected, dragging, measured, ...rest }) => rest);

/** The problems under the canvas; memoised: unchanged on a drag frame. */
const ProblemList = memo(function ProblemList({ problems, onFocus }) {
  return (
    <section className="q-problems" aria-label="Problems">
      <h2>
        Problems <span className="badge">{problems.length}</span>
      </h2>
      {problems.length === 0 ? (
        <p className="empty">No problems: this draft can be published.</p>
      ) : (
        <ul>
          {problems.map((p, i) => (
            <li key={i} className={`problem-${p.severity || "error"}`}>
              <button type="button" className="link-button" onClick={() => p.node_id && onFocus(p.node_id)} disabled={!p.node_id}>
                <span className="problem-code">{p.severity === "warning" ? "warning" : "error"}</span> {p.message}
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
});

function EditorInner({ config, catalogue, models, workflow: initial }) {
  const flow = useReactFlow();
  const readOnly = !config.canEdit;
  const byType = useMemo(() => indexCatalogue(catalogue.node_types), [catalogue]);
  const [nodes, setNodes] = useState(() => graphToFlow(initial.graph).nodes);
  const [edges, setEdges] = useState(() => graphToFlow(initial.graph).edges);
  const base = useRef(initial.graph || {});
  const [meta, setMeta] = useState({ name: initial.name, description: initial.description, latestVersion: initial.latest_version });
  const revision = useRef(initial.draft_revision);
  const [docVersion, setDocVersion] = useState(0); // bumped by every change to the document
  const savedVersion = useRef(0);
  const [saveState, setSaveState] = useState("saved");
  const [conflict, setConflict] = useState(null);
  const [problems, setProblems] = useState([]);
  const [notice, setNotice] = useState(null);
  const [history, setHistory] = useState(emptyHistory);
  const [showHelp, setShowHelp] = useState(false);
  const [publishing, setPublishing] = useState(null); // null or the message being typed
  const [publishedDraft, setPublishedDraft] = useState(initial.latest_version == null ? -1 : 0);
  const [run, setRun] = useState(null);
  const [transport, setTransport] = useState("");
  const [runDetail, setRunDetail] = useState(null);
  const [runBusy, setRunBusy] = useState(false);
  const [runError, setRunError] = useState("");
  const [tokens, setTokens] = useState({});
  const clipboard = useRef(null);
  const initialHasNodes = useRef(nodes.length > 0);
  const stopRun = useRef(null);
  const wrapper = useRef(null);
  const state = useRef({ nodes, edges });
  state.current = { nodes, edges };

  const graph = useCallback(() => {
    const { nodes: n, edges: e } = state.current;
    const doc = flowToGraph(n, e, base.current);
    doc.inputs = inputsSchemaFor(n, base.current.inputs);
    return doc;
  }, []);

  // -- changes go through commit(): history, autosave, validation ----------
  const commit = useCallback((nextNodes, nextEdges, key = null) => {
    const { nodes: n, edges: e } = state.current;
    setHistory((h) => record(h, { nodes: strip(n), edges: strip(e) }, key));
    state.current = { nodes: nextNodes, edges: nextEdges };
    setNodes(nextNodes);
    setEdges(nextEdges);
    setDocVersion((v) => v + 1);
  }, []);

  const restore = useCallback((snapshot) => {
    const selected = new Set(state.current.nodes.filter((n) => n.selected).map((n) => n.id));
    const nextNodes = snapshot.nodes.map((n) => ({ ...n, selected: selected.has(n.id) }));
    state.current = { nodes: nextNodes, edges: snapshot.edges };
    setNodes(nextNodes);
    setEdges(snapshot.edges);
    setDocVersion((v) => v + 1);
  }, []);

  const doUndo = useCallback(() => {
    if (readOnly) return;
    const { nodes: n, edges: e } = state.current;
    const result = undo(history, { nodes: strip(n), edges: strip(e) });
    if (result) {
      setHistory(result[0]);
      restore(result[1]);
    }
  }, [history, restore, readOnly]);

  const doRedo = useCallback(() => {
    if (readOnly) return;
    const { nodes: n, edges: e } = state.current;
    const result = redo(history, { nodes: strip(n), edges: strip(e) });
    if (result) {
      setHistory(result[0]);
      restore(result[1]);
    }
  }, [history, restore, readOnly]);

  // -- autosave with conflict detection ------------------------------------
  // Saves run one after another: a save started while another is in flight
  // would send a stale base revision and be told of a conflict with itself.
  const inFlight = useRef(Promise.resolve());
  const latestDoc = useRef(docVersion);
  latestDoc.current = docVersion;
  const saveOnce = useCallback(
    async (overwrite, version) => {
      setSaveState("saving");
      try {
        let baseRevision = revision.current;
        if (overwrite) baseRevision = (await api("GET", `/workflows/${config.workflowId}`)).draft_revision;
        const saved = await api("PATCH", `/workflows/${config.workflowId}`, { graph: graph(), base_revision: baseRevision });
        revision.current = saved.draft_revision;
        base.current = saved.graph;
        savedVersion.current = Math.max(savedVersion.current, version);
        setConflict(null);
        setSaveState(savedVersion.current >= latestDoc.current ? "saved" : "unsaved");
      } catch (error) {
        if (error.status === 409) {
          setConflict(error.message);
          setSaveState("conflict");
        } else {
          setSaveState("error");
          setNotice({ kind: "error", text: `Saving failed: ${error.message}` });
        }
      }
    },
    [config.workflowId, graph],
  );
  const save = useCallback(
    (overwrite = false) => {
      if (readOnly) return Promise.resolve();
      const version = latestDoc.current;
      inFlight.current = inFlight.current.then(() => saveOnce(overwrite, version));
      return inFlight.current;
    },
    [readOnly, saveOnce],
  );

  useEffect(() => {
    if (docVersion === 0 || readOnly || conflict) return undefined;
    setSaveState("unsaved");
    const timer = setTimeout(() => save(false), SAVE_DELAY_MS);
    return () => clearTimeout(timer);
  }, [docVersion]); // eslint-disable-line react-hooks/exhaustive-deps

  useEffect(() => {
    const warn = (e) => {
      if (saveState !== "saved") {
        e.preventDefault();
        e.returnValue = "";
      }
    };
    window.addEventListener("beforeunload", warn);
    return () => window.removeEventListener("beforeunload", warn);
  }, [saveState]);

  const reload = useCallback(async () => {
    const fresh = await api("GET", `/workflows/${config.workflowId}`);
    const mapped = graphToFlow(fresh.graph);
    base.current = fresh.graph;
    revision.current = fresh.draft_revision;
    state.current = mapped;
    setNodes(mapped.nodes);
    setEdges(mapped.edges);
    setMeta({ name: fresh.name, description: fresh.description, latestVersion: fresh.latest_version });
    setHistory(emptyHistory());
    setConflict(null);
    setSaveState("saved");
    savedVersion.current = docVersion;
    setDocVersion((v) => v); // no save for a reload
    validateNow();
  }, [config.workflowId, docVersion]); // eslint-disable-line react-hooks/exhaustive-deps

  // -- live validation (server-side, debounced) ----------------------------
  const validateSeq = useRef(0);
  const validateNow = useCallback(async () => {
    const seq = ++validateSeq.current;
    try {
      const result = await api("POST", `/workflows/${config.workflowId}/validate`, { graph: graph() });
      if (seq === validateSeq.current) setProblems((prev) => sameProblems(prev, result.problems));
    } catch (error) {
      if (seq === validateSeq.current) setProblems((prev) => sameProblems(prev, problemsOf(error)));
    }
  }, [config.workflowId, graph]);

  useEffect(() => {
    // The first validation waits for the canvas to be on screen: its result
    // re-renders every node, which would otherwise delay opening a big graph.
    const timer = setTimeout(validateNow, docVersion === 0 ? 150 : VALIDATE_DELAY_MS);
    return () => clearTimeout(timer);
  }, [docVersion, validateNow]);

  const problemIndex = useMemo(() => {
    const byNode = {};
    const byEdge = {};
    for (const p of problems) {
      if (p.node_id) (byNode[p.node_id] ||= []).push(p);
      if (p.edge_id) (byEdge[p.edge_id] ||= []).push(p);
    }
    return { byNode, byEdge };
  }, [problems]);
  const errorCount = problems.filter((p) => p.severity !== "warning").length;

  // -- canvas events ---------------------------------------------------------
  const onNodesChange = useCallback(
    (changes) => {
      const { nodes: n, edges: e } = state.current;
      const removing = changes.filter((c) => c.type === "remove");
      if (removing.length) {
        if (readOnly) return;
        const gone = new Set(removing.map((c) => c.id));
        commit(applyNodeChanges(changes, n), e.filter((x) => !gone.has(x.source) && !gone.has(x.target)));
        return;
      }
      const dragEnd = changes.some((c) => c.type === "position" && c.dragging === false);
      const next = applyNodeChanges(changes, n);
      if (dragEnd && !readOnly) {
        commit(next, e);
        return;
      }
      state.current = { nodes: next, edges: e };
      setNodes(next);
    },
    [commit, readOnly],
  );

  const dragStart = useRef(null);
  const onNodeDragStart = useCallback(() => {
    const { nodes: n, edges: e } = state.current;
    dragStart.current = { nodes: strip(n), edges: strip(e) };
  }, []);
  const onNodeDragStop = useCallback(() => {
    // The history entry of a drag is the state before it started.
    if (dragStart.current) setHistory((h) => ({ ...h, past: [...h.past.slice(0, -1), dragStart.current] }));
    dragStart.current = null;
  }, []);

  const onEdgesChange = useCallback(
    (changes) => {
      const { nodes: n, edges: e } = state.current;
      const next = applyEdgeChanges(changes, e);
      if (changes.some((c) => c.type === "remove")) {
        if (!readOnly) commit(n, next);
        return;
      }
      state.current = { nodes: n, edges: next };
      setEdges(next);
    },
    [commit, readOnly],
  );

  const onConnect = useCallback(
    (conn) => {
      const { nodes: n, edges: e } = state.current;
      const reason = connectionProblem(conn, n, e, byType, catalogue.compatible);
      if (reason) {
        setNotice({ kind: "error", text: `Connection refused: ${reason}` });
        return;
      }
      const id = newEdgeId(conn.source, conn.sourceHandle, conn.target, conn.targetHandle, e.map((x) => x.id));
      commit(n, [...e, { id, ariaRole: EDGE_ROLE, source: conn.source, target: conn.target, sourceHandle: conn.sourceHandle, targetHandle: conn.targetHandle }]);
      setNotice(null);
    },
    [byType, catalogue.compatible, commit],
  );

  const addNode = useCallback(
    (type, position) => {
      if (readOnly) return;
      const { nodes: n, edges: e } = state.current;
      const entry = byType[type];
      const id = newNodeId(type, n.map((x) => x.id));
      let where = position;
      if (!where) {
        const box = wrapper.current.getBoundingClientRect();
        const center = flow.screenToFlowPosition({ x: box.left + box.width / 2, y: box.top + box.height / 3 });
        where = freeSpot(n, { x: center.x - 90, y: center.y - 30 });
      }
      // The first input node reads the run input "message", so a new workflow
      // gets a one-field run form; more inputs get their own keys.
      const inputCount = n.filter((x) => x.data.type === "input").length;
      const config =
        type === "input"
          ? { key: inputCount ? `input_${inputCount + 1}` : "message" }
          : type === "map"
            ? { body: { type: "llm", config: {} } } // shown, rather than an implicit default
            : {};
      const node = { id, type: NODE_KIND, ariaRole: NODE_ROLE, position: where, selected: true, data: { type, label: entry ? entry.title : type, config } };
      commit([...n.map((x) => ({ ...x, selected: false })), node], e);
    },
    [byType, commit, flow, readOnly],
  );

  const onDrop = useCallback(
    (event) => {
      event.preventDefault();
      const type = event.dataTransfer.getData(DRAG_TYPE);
      if (!type) return;
      addNode(type, flow.screenToFlowPosition({ x: event.clientX - 80, y: event.clientY - 20 }));
    },
    [addNode, flow],
  );

  const updateNode = useCallback(
    (id, patch, key) => {
      const { nodes: n, edges: e } = state.current;
      commit(
        n.map((x) => (x.id === id ? { ...x, data: { ...x.data, ...patch } } : x)),
        e,
        key,
      );
    },
    [commit],
  );

  const focusNode = useCallback(
    (id) => {
      const node = state.current.nodes.find((n) => n.id === id);
      if (!node) return;
      const next = state.current.nodes.map((n) => ({ ...n, selected: n.id === id }));
      state.current = { ...state.current, nodes: next };
      setNodes(next);
      const w = node.measured?.width ?? 160;
      const h = node.measured?.height ?? 60;
      flow.setCenter(node.position.x + w / 2, node.position.y + h / 2, { zoom: Math.max(flow.getZoom(), 1), duration: 300 });
    },
    [flow],
  );

  // -- copy / paste / select all / layout -----------------------------------
  const copy = useCallback(() => {
    const { nodes: n, edges: e } = state.current;
    const clip = copySelection(n, e);
    if (clip.nodes.length) {
      clipboard.current = clip;
      setNotice({ kind: "info", text: `Copied ${clip.nodes.length} node(s).` });
    }
  }, []);
  const paste = useCallback(() => {
    if (readOnly || !clipboard.current) return;
    const { nodes: n, edges: e } = state.current;
    const next = pasteClipboard(clipboard.current, n, e);
    commit(next.nodes, next.edges);
  }, [commit, readOnly]);
  const selectAll = useCallback(() => {
    const next = state.current.nodes.map((n) => ({ ...n, selected: true }));
    state.current = { ...state.current, nodes: next };
    setNodes(next);
  }, []);
  const deleteSelected = useCallback(() => {
    if (readOnly) return;
    const { nodes: n, edges: e } = state.current;
    const gone = new Set(n.filter((x) => x.selected).map((x) => x.id));
    const keptEdges = e.filter((x) => !x.selected && !gone.has(x.source) && !gone.has(x.target));
    if (gone.size || keptEdges.length !== e.length) commit(n.filter((x) => !gone.has(x.id)), keptEdges);
  }, [commit, readOnly]);

  const layout = useCallback(async () => {
    if (readOnly) return;
    const { autoLayout } = await import("./layout.js");
    const { nodes: n, edges: e } = state.current;
    const positions = await autoLayout(n, e);
    commit(n.map((x) => ({ ...x, position: positions[x.id] || x.position })), e);
    // React Flow adopts the new positions in an effect after this render.
    setTimeout(() => flow.fitView({ duration: 300, maxZoom: 1 }), 100);
  }, [commit, flow, readOnly]);

  // -- publish ------------------------------------------------------------
  const publish = useCallback(async () => {
    try {
      if (saveState !== "saved") await save(false);
      const version = await api("POST", `/workflows/${config.workflowId}/versions`, { message: publishing || "" });
      setMeta((m) => ({ ...m, latestVersion: version.number }));
      setPublishing(null);
      setPublishedDraft(docVersion);
      setNotice({ kind: "success", text: `Published v${version.number}.` });
      document.body.dispatchEvent(new CustomEvent("versions-changed", { bubbles: true }));
    } catch (error) {
      if (error.body?.problems) setProblems(error.body.problems);
      setNotice({ kind: "error", text: `Not published: ${error.message}` });
    }
  }, [config.workflowId, docVersion, publishing, save, saveState]);

  // -- test run -----------------------------------------------------------
  const startRun = useCallback(
    async (inputs) => {
      setRunBusy(true);
      setRunError("");
      try {
        const created = await api("POST", `/workflows/${config.workflowId}/runs`, { inputs });
        if (stopRun.current) stopRun.current();
        setRun(emptyRun(created.id));
        setRunDetail(null);
        setTokens({});
        stopRun.current = followRun(created.id, {
          onUpdate: (fn) => setRun((r) => (r && r.runId === created.id ? fn(r) : r)),
          onTransport: setTransport,
          onTokens: (nodeId, text) => setTokens((t) => ({ ...t, [nodeId]: (t[nodeId] || "") + text })),
          onEnd: () => api("GET", `/runs/${created.id}`).then(setRunDetail).catch(() => {}),
        });
      } catch (error) {
        setRunError(problemsOf(error).map((p) => p.message).join(" ") || error.message);
      } finally {
        setRunBusy(false);
      }
    },
    [config.workflowId],
  );
  useEffect(() => () => stopRun.current && stopRun.current(), []);

  const selected = nodes.filter((n) => n.selected);
  const selectedNode = selected.length === 1 ? selected[0] : null;
  useEffect(() => {
    // Fresh step details when a node is clicked during or after a run.
    if (run && selectedNode) api("GET", `/runs/${run.runId}`).then(setRunDetail).catch(() => {});
  }, [run?.runId, run?.status, selectedNode?.id]); // eslint-disable-line react-hooks/exhaustive-deps

  // -- import / export --------------------------------------------------------
  const doExport = useCallback(() => exportFile(meta.name, meta.description, graph()), [graph, meta]);
  const doImport = useCallback(async (file) => {
    const result = await importFile(file);
    if (result.error) {
      setNotice({ kind: "error", text: result.error, problems: result.problems });
      return;
    }
    window.location.assign(`/workflows/${result.workflow.id}/`);
  }, []);

  useShortcuts({
    undo: doUndo,
    redo: doRedo,
    copy,
    paste,
    selectAll,
    deleteSelected,
    layout,
    fit: () => flow.fitView({ duration: 300, maxZoom: 1 }),
    save: () => save(false),
    help: () => setShowHelp((v) => !v),
    escape: () => setShowHelp(false),
  });

  const decor = useMemo(() => ({ byType, problems: problemIndex.byNode, run: run ? run.nodes : {} }), [byType, problemIndex, run]);
  const displayEdges = useMemo(() => {
    return edges.map((e) => {
      const bad = problemIndex.byEdge[e.id];
      const state = run?.nodes[e.source]?.state;
      const className = [bad ? "edge-error" : "", state === "succeeded" ? "edge-done" : ""].join(" ").trim();
      return className || e.animated ? { ...e, className, animated: state === "running" } : e;
    });
  }, [edges, problemIndex, run]);

  const entry = selectedNode ? byType[selectedNode.data.type] : null;
  const variables = useMemo(() => (selectedNode ? upstreamVariables(selectedNode.id, nodes, edges) : []), [selectedNode?.id, edges]); // eslint-disable-line react-hooks/exhaustive-deps
  const dirtySincePublish = publishedDraft !== docVersion;
  // Recomputed only when an input node's key changes, not on every drag frame.
  const inputKeys = nodes.filter((n) => n.data.type === "input").map((n) => n.data.config?.key ?? "").join("\u0000");
  const inputsSchema = useMemo(() => inputsSchemaFor(state.current.nodes, base.current.inputs), [inputKeys]); // eslint-disable-line react-hooks/exhaustive-deps

  return (
    <DecorContext.Provider value={decor}>
      <div className="q-editor">
        <div className="q-toolbar" role="toolbar" aria-label="Editor">
          <button type="button" className="secondary outline" onClick={doUndo} disabled={readOnly || !history.past.length} title="Undo (Ctrl+Z)">
            Undo
          </button>
          <button type="button" className="secondary outline" onClick={doRedo} disabled={readOnly || !history.future.length} title="Redo (Ctrl+Shift+Z)">
            Redo
          </button>
          <button type="button" className="secondary outline" onClick={layout} disabled={readOnly} title="Auto-layout (Shift+L)">
            Auto-layout
          </button>
          <button type="button" className="secondary outline" onClick={() => flow.fitView({ duration: 300, maxZoom: 1 })} title="Fit view (F)">
            Fit
          </button>
          <button type="button" className="secondary outline" onClick={doExport}>
            Export JSON
          </button>
          <label className="q-import secondary outline" role="button">
            Import JSON
            <input
              type="file"
              accept="application/json,.json"
              aria-label="Import JSON"
              onChange={(e) => {
                if (e.target.files[0]) doImport(e.target.files[0]);
                e.target.value = "";
              }}
            />
          </label>
          <button type="button" className="secondary outline" onClick={() => setShowHelp(true)} title="Keyboard shortcuts (?)">
            ?
          </button>
          <span className={`q-save q-save-${saveState}`} role="status" aria-live="polite">
            {readOnly ? "Read only" : { saved: "All changes saved", saving: "Saving…", unsaved: "Unsaved changes", conflict: "Not saved: conflict", error: "Not saved" }[saveState]}
          </span>
          {config.canPublish && (
            <span className="q-publish">
              {publishing === null ? (
                <button type="button" onClick={() => setPublishing("")} disabled={errorCount > 0} title={errorCount ? `Fix ${errorCount} error(s) first` : "Publish the draft as a new version"}>
                  Publish
                </button>
              ) : (
                <form
                  onSubmit={(e) => {
                    e.preventDefault();
                    publish();
                  }}
                >
                  <input aria-label="Version message" placeholder="What changed?" value={publishing} maxLength={500} autoFocus onChange={(e) => setPublishing(e.target.value)} />
                  <button type="submit" disabled={errorCount > 0}>
                    Publish version
                  </button>
                  <button type="button" className="secondary outline" onClick={() => setPublishing(null)}>
                    Cancel
                  </button>
                </form>
              )}
            </span>
          )}
        </div>
        {conflict && (
          <div className="q-banner q-banner-error" role="alert">
            Another tab or person saved this draft after you loaded it ({conflict}). Your changes are not saved.
            <button type="button" onClick={reload}>
              Reload their version
            </button>
            <button type="button" className="secondary" onClick={() => save(true)}>
              Overwrite with mine
            </button>
          </div>
        )}
        {notice && (
          <div className={`q-banner q-banner-${notice.kind}`} role={notice.kind === "error" ? "alert" : "status"}>
            {notice.text}
            {notice.problems && (
              <ul>
                {notice.problems.map((p, i) => (
                  <li key={i}>
                    {p.field ? <code>{p.field}</code> : null} {p.message}
                  </li>
                ))}
              </ul>
            )}
            <button type="button" className="link-button" aria-label="Dismiss" onClick={() => setNotice(null)}>
              ×
            </button>
          </div>
        )}
        {run && <RunStatus run={run} transport={transport} onClose={() => { if (stopRun.current) stopRun.current(); setRun(null); }} />}
        <div className="q-body">
          <Palette nodeTypes={catalogue.node_types} onAdd={addNode} disabled={readOnly} />
          <div className="q-canvas" ref={wrapper} onDragOver={(e) => { e.preventDefault(); e.dataTransfer.dropEffect = "move"; }} onDrop={onDrop}>
            <ReactFlow
              nodes={nodes}
              edges={displayEdges}
              nodeTypes={nodeTypes}
              onNodesChange={onNodesChange}
              onEdgesChange={onEdgesChange}
              onConnect={onConnect}
              onNodeDragStart={onNodeDragStart}
              onNodeDragStop={onNodeDragStop}
              nodesDraggable={!readOnly}
              nodesConnectable={!readOnly}
              deleteKeyCode={null}
              multiSelectionKeyCode={["Meta", "Control", "Shift"]}
              selectionKeyCode="Shift"
              fitView={initialHasNodes.current}
              fitViewOptions={{ maxZoom: 1 }}
              defaultViewport={{ x: 40, y: 40, zoom: 1 }}
              minZoom={0.05}
              proOptions={{ hideAttribution: true }}
              onInit={() => requestAnimationFrame(() => performance.mark("quorum:editor-ready"))}
            >
              {/* The dotted background repaints the whole canvas on every pan frame:
                  left out on big graphs (B4, docs/benchmarks.md). */}
              {nodes.length <= BACKGROUND_MAX_NODES && <Background />}
              <Controls showInteractive={false} />
              <MiniMap pannable zoomable />
            </ReactFlow>
            {nodes.length === 0 && (
              <div className="q-canvas-empty">
                <p>Drag a node type here from the left, or click one to add it. Start with an <strong>Input</strong>.</p>
              </div>
            )}
          </div>
          <div className="q-side">
            {selectedNode ? (
              <>
                <SettingsPanel
                  key={selectedNode.id}
                  node={selectedNode}
                  entry={entry}
                  models={models}
                  variables={variables}
                  serverProblems={problemIndex.byNode[selectedNode.id] || []}
                  readOnly={readOnly}
                  onChange={(patch, key) => updateNode(selectedNode.id, patch, key)}
                />
                {run && <StepDetails nodeId={selectedNode.id} detail={runDetail} edges={edges} tokens={tokens[selectedNode.id]} />}
              </>
            ) : selected.length > 1 ? (
              <p className="empty">{selected.length} nodes selected. Ctrl+C copies them; Delete removes them.</p>
            ) : (
              <p className="empty">Select a node to edit its settings.</p>
            )}
            {config.canRun && (
              <RunForm inputsSchema={inputsSchema} latestVersion={meta.latestVersion} draftDirty={dirtySincePublish} onStart={startRun} busy={runBusy} error={runError} />
            )}
          </div>
        </div>
        <ProblemList problems={problems} onFocus={focusNode} />
        {showHelp && <Shortcuts onClose={() => setShowHelp(false)} />}
      </div>
    </DecorContext.Provider>
  );
}

export default function Editor(props) {
  return (
    <ReactFlowProvider>
      <EditorInner {...props} />
    </ReactFlowProvider>
  );
}
