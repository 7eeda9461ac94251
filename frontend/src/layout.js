// Auto-layout with elkjs (layered, left to right, port-aware). Loaded on first
// use as its own chunk, so opening the editor does not parse elk.
import ELK from "elkjs/lib/elk.bundled.js";

const elk = new ELK();

export async function autoLayout(nodes, edges) {
  const ids = new Set(nodes.map((n) => n.id));
  const result = await elk.layout({
    id: "root",
    layoutOptions: {
      "elk.algorithm": "layered",
      "elk.direction": "RIGHT",
      "elk.layered.spacing.nodeNodeBetweenLayers": "80",
      "elk.spacing.nodeNode": "40",
      "elk.layered.nodePlacement.strategy": "BRANDES_KOEPF",
    },
    children: nodes.map((n) => ({ id: n.id, width: n.measured?.width ?? 180, height: n.measured?.height ?? 70 })),
    edges: edges.filter((e) => ids.has(e.source) && ids.has(e.target)).map((e) => ({ id: e.id, sources: [e.source], targets: [e.target] })),
  });
  return Object.fromEntries(result.children.map((c) => [c.id, { x: c.x, y: c.y }]));
}
