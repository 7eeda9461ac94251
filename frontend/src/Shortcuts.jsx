// Keyboard shortcuts and their help overlay.
import { useEffect, useRef } from "react";

export const SHORTCUTS = [
  ["Ctrl+Z", "Undo"],
  ["Ctrl+Shift+Z or Ctrl+Y", "Redo"],
  ["Ctrl+C / Ctrl+V", "Copy / paste the selected nodes"],
  ["Ctrl+A", "Select every node"],
  ["Delete or Backspace", "Delete the selection"],
  ["Shift+click, Shift+drag", "Add to the selection, select an area"],
  ["Shift+L", "Auto-layout"],
  ["F", "Fit the graph in view"],
  ["Ctrl+S", "Save now (drafts also save on their own)"],
  ["?", "Show this help"],
  ["Esc", "Close this help"],
];

const typing = (el) => el && (el.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName));

export function useShortcuts(actions) {
  const ref = useRef(actions);
  ref.current = actions;
  useEffect(() => {
    const onKey = (e) => {
      const a = ref.current;
      const mod = e.ctrlKey || e.metaKey;
      const key = e.key.toLowerCase();
      if (key === "escape") return a.escape();
      if (mod && key === "s") {
        e.preventDefault();
        return a.save();
      }
      if (typing(e.target)) return undefined;
      let handled = true;
      if (mod && key === "z" && !e.shiftKey) a.undo();
      else if (mod && (key === "y" || (key === "z" && e.shiftKey))) a.redo();
      else if (mod && key === "c") a.copy();
      else if (mod && key === "v") a.paste();
      else if (mod && key === "a") a.selectAll();
      else if (key === "delete" || key === "backspace") a.deleteSelected();
      else if (e.shiftKey && key === "l") a.layout();
      else if (!mod && key === "f") a.fit();
      else if (e.key === "?") a.help();
      else handled = false;
      if (handled) e.preventDefault();
      return undefined;
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);
}

export function Shortcuts({ onClose }) {
  return (
    <div className="q-overlay" role="dialog" aria-modal="true" aria-label="Keyboard shortcuts" onClick={onClose}>
      <article onClick={(e) => e.stopPropagation()}>
        <header>
          <h2>Keyboard shortcuts</h2>
        </header>
        <table>
          <tbody>
            {SHORTCUTS.map(([keys, what]) => (
              <tr key={keys}>
                <td>
                  <kbd>{keys}</kbd>
                </td>
                <td>{what}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <p className="field-help">Drag from an output port (right) to an input port (left) to connect. Scroll to zoom, drag the background to pan.</p>
        <footer>
          <button type="button" onClick={onClose}>
            Close
          </button>
        </footer>
      </article>
    </div>
  );
}
