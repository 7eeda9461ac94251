// Undo/redo of graph snapshots. Pure; unit-tested by test/history.test.js.
// A snapshot is {nodes, edges} (selection is not part of history).

export const LIMIT = 200;

export function emptyHistory() {
  return { past: [], future: [], lastKey: null, lastAt: 0 };
}

/** Record `snapshot` (the state *before* a change). Changes with the same
 *  `key` within `windowMs` (typing into one field) coalesce into one step. */
export function record(history, snapshot, key = null, now = Date.now(), windowMs = 1000) {
  if (key && history.lastKey === key && now - history.lastAt < windowMs) {
    return { ...history, future: [], lastAt: now };
  }
  const past = [...history.past, snapshot];
  if (past.length > LIMIT) past.splice(0, past.length - LIMIT);
  return { past, future: [], lastKey: key, lastAt: now };
}

/** [history, snapshot to show] after undoing from `current`, or null. */
export function undo(history, current) {
  if (!history.past.length) return null;
  const past = history.past.slice(0, -1);
  const snapshot = history.past[history.past.length - 1];
  return [{ past, future: [current, ...history.future], lastKey: null, lastAt: 0 }, snapshot];
}

export function redo(history, current) {
  if (!history.future.length) return null;
  const [snapshot, ...future] = history.future;
  return [{ past: [...history.past, current], future, lastKey: null, lastAt: 0 }, snapshot];
}
