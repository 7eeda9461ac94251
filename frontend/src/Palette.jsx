// Node types grouped by category and searchable. Drag one onto the canvas, or
// click it to add it in the middle of the view.
import { memo, useMemo, useState } from "react";

export const DRAG_TYPE = "application/x-quorum-node-type";

function Palette({ nodeTypes, onAdd, disabled }) {
  const [query, setQuery] = useState("");
  const groups = useMemo(() => {
    const q = query.trim().toLowerCase();
    const result = {};
    for (const t of nodeTypes) {
      const text = `${t.type} ${t.title} ${t.category} ${t.description}`.toLowerCase();
      if (q && !text.includes(q)) continue;
      (result[t.category] ||= []).push(t);
    }
    return result;
  }, [nodeTypes, query]);
  return (
    <aside className="q-palette" aria-label="Node types">
      <input type="search" placeholder="Search node types" aria-label="Search node types" value={query} onChange={(e) => setQuery(e.target.value)} />
      {Object.keys(groups).length === 0 && <p className="empty">No node type matches “{query}”.</p>}
      {Object.entries(groups).map(([category, types]) => (
        <section key={category}>
          <h3>{category}</h3>
          {types.map((t) => (
            <button
              type="button"
              key={t.type}
              className="q-palette-item"
              draggable={!disabled}
              disabled={disabled}
              data-node-type={t.type}
              title={t.description}
              onDragStart={(e) => {
                e.dataTransfer.setData(DRAG_TYPE, t.type);
                e.dataTransfer.effectAllowed = "move";
              }}
              onClick={() => onAdd(t.type)}
            >
              <strong>{t.title}</strong>
              <small>{t.description}</small>
            </button>
          ))}
        </section>
      ))}
    </aside>
  );
}

// Memoised: the editor re-renders on every drag frame; the palette need not.
export default memo(Palette);
