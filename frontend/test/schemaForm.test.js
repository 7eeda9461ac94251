import { test } from "node:test";
import assert from "node:assert/strict";
import { emptyValue, fieldError, fieldsOf, formErrors, parseNumber } from "../src/schemaForm.js";

// Shapes as pydantic emits them (see GET /api/node-types).
const schema = {
  $defs: {
    RouteConfig: {
      properties: { name: { title: "Name", type: "string", minLength: 1 }, condition: { default: "false", type: "string" } },
      required: ["name"],
      type: "object",
    },
  },
  properties: {
    max_attempts: { default: 3, maximum: 10, minimum: 1, type: "integer" },
    timeout_s: { default: 120, exclusiveMinimum: 0, maximum: 3600, type: "number" },
    provider: { default: "Simulator", minLength: 1, type: "string" },
    model: { default: "sim-small", minLength: 1, type: "string" },
    prompt: { default: "{{ input }}", title: "Prompt", type: "string" },
    mode: { default: "expression", enum: ["expression", "llm"], type: "string" },
    multi: { default: false, type: "boolean" },
    routes: { items: { $ref: "#/$defs/RouteConfig" }, type: "array" },
    headers: { additionalProperties: { type: "string" }, type: "object" },
    key: { anyOf: [{ minLength: 1, type: "string" }, { type: "null" }], default: null },
    output_schema: { anyOf: [{ additionalProperties: true, type: "object" }, { type: "null" }], default: null },
    tags: { items: { type: "string" }, type: "array", maxItems: 2 },
  },
  type: "object",
};

const byName = Object.fromEntries(fieldsOf(schema).map((f) => [f.name, f]));

test("each JSON Schema shape gets its kind of field", () => {
  const kinds = Object.fromEntries(Object.values(byName).map((f) => [f.name, f.kind]));
  assert.deepEqual(kinds, {
    max_attempts: "integer",
    timeout_s: "number",
    provider: "string",
    model: "model",
    prompt: "text",
    mode: "enum",
    multi: "boolean",
    routes: "list",
    headers: "map",
    key: "string",
    output_schema: "json",
    tags: "list",
  });
  assert.equal(byName.max_attempts.advanced, true);
  assert.equal(byName.key.nullable, true);
  assert.deepEqual(byName.mode.options, ["expression", "llm"]);
});

test("list items resolve $ref into nested object fields", () => {
  const item = byName.routes.item;
  assert.equal(item.kind, "object");
  assert.deepEqual(item.fields.map((f) => [f.name, f.required]), [["name", true], ["condition", false]]);
  assert.deepEqual(emptyValue(item), { name: "" });
});

test("numbers are checked against their bounds", () => {
  assert.equal(fieldError(byName.max_attempts, 0), "Must be at least 1.");
  assert.equal(fieldError(byName.max_attempts, 11), "Must be at most 10.");
  assert.equal(fieldError(byName.max_attempts, 2.5), "Enter a whole number.");
  assert.equal(fieldError(byName.timeout_s, 0), "Must be more than 0.");
  assert.equal(fieldError(byName.timeout_s, parseNumber("abc")), "Enter a number.");
  assert.equal(fieldError(byName.timeout_s, 30), null);
});

test("inline errors use the server's dotted paths", () => {
  const errors = formErrors(fieldsOf(schema), { routes: [{ name: "ok" }, { name: "" }], mode: "other", tags: ["a", "b", "c"] });
  assert.deepEqual(errors, {
    "routes.1.name": "Required.",
    mode: "Choose one of: expression, llm.",
    tags: "At most 2 item(s).",
  });
});

test("a missing required field is reported, a missing optional one is not", () => {
  const f = fieldsOf({ properties: { topic: { type: "string" }, n: { type: "integer" } }, required: ["topic"] });
  assert.deepEqual(formErrors(f, {}), { topic: "Required." });
});
