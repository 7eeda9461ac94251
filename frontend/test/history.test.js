import { test } from "node:test";
import assert from "node:assert/strict";
import { LIMIT, emptyHistory, record, redo, undo } from "../src/history.js";

test("undo and redo walk back and forth", () => {
  let h = emptyHistory();
  h = record(h, "s0");
  h = record(h, "s1");
  let [h2, shown] = undo(h, "s2");
  assert.equal(shown, "s1");
  [h2, shown] = undo(h2, "s1");
  assert.equal(shown, "s0");
  assert.equal(undo(h2, "s0"), null);
  [h2, shown] = redo(h2, "s0");
  assert.equal(shown, "s1");
  [h2, shown] = redo(h2, "s1");
  assert.equal(shown, "s2");
  assert.equal(redo(h2, "s2"), null);
});

test("keeps at least 100 steps (LIMIT) and a new change clears redo", () => {
  let h = emptyHistory();
  for (let i = 0; i < LIMIT + 50; i += 1) h = record(h, i);
  assert.ok(LIMIT >= 100);
  assert.equal(h.past.length, LIMIT);
  assert.equal(h.past[0], 50);
  const [undone] = undo(h, "now");
  assert.equal(record(undone, "x").future.length, 0);
});

test("typing into one field within a second is one step", () => {
  let h = emptyHistory();
  h = record(h, "a", "config:llm_1", 1000);
  h = record(h, "ab", "config:llm_1", 1500);
  h = record(h, "abc", "config:llm_1", 2200);
  assert.deepEqual(h.past, ["a"]);
  h = record(h, "abcd", "config:llm_1", 4000);
  assert.deepEqual(h.past, ["a", "abcd"]);
});
