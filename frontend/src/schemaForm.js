// JSON Schema (as pydantic emits it) -> form field descriptors, and value
// checks for inline errors. Pure functions: unit-tested by test/schemaForm.test.js;
// rendered by Fields.jsx.
//
// Kinds: string, text (long text: prompts and templates), number, integer,
// boolean, enum, model (provider + model picker), list (of any kind), map
// (string keys -> values), object (nested fields), json (anything else, as JSON).

const LONG_TEXT = new Set(["prompt", "system", "template", "body", "description"]);
// Settings every node type has; shown folded under "Retries and timeout".
export const ADVANCED = new Set(["max_attempts", "retry_backoff_s", "retry_backoff_max_s", "timeout_s"]);

/** Resolve `$ref` ("#/$defs/Name") against the root schema's $defs. */
export function deref(schema, root) {
  let s = schema || {};
  for (let guard = 0; s.$ref && guard < 20; guard += 1) {
    const name = s.$ref.split("/").pop();
    s = { ...(root?.$defs?.[name] || {}), ...Object.fromEntries(Object.entries(s).filter(([k]) => k !== "$ref")) };
  }
  if (Array.isArray(s.allOf) && s.allOf.length === 1) {
    const { allOf, ...rest } = s;
    return deref({ ...allOf[0], ...rest }, root);
  }
  return s;
}

/** {schema, nullable}: an `anyOf: [X, {type: null}]` unwrapped to X. */
function unwrapNullable(schema, root) {
  const s = deref(schema, root);
  const options = s.anyOf || s.oneOf;
  if (Array.isArray(options)) {
    const nonNull = options.filter((o) => deref(o, root).type !== "null");
    if (nonNull.length === 1 && nonNull.length < options.length) {
      const { anyOf, oneOf, ...rest } = s;
      return { schema: { ...deref(nonNull[0], root), ...rest }, nullable: true };
    }
  }
  if (Array.isArray(s.type) && s.type.includes("null")) {
    const types = s.type.filter((t) => t !== "null");
    return { schema: { ...s, type: types.length === 1 ? types[0] : types }, nullable: true };
  }
  return { schema: s, nullable: false };
}

function kindOf(name, s, siblings) {
  if (name === "model" && siblings.includes("provider")) return "model";
  if (Array.isArray(s.enum)) return "enum";
  if (s.const !== undefined) return "enum";
  switch (s.type) {
    case "string":
      return LONG_TEXT.has(name) || (s.maxLength ?? 0) > 500 || s.format === "textarea" ? "text" : "string";
    case "integer":
      return "integer";
    case "number":
      return "number";
    case "boolean":
      return "boolean";
    case "array":
      return "list";
    case "object":
      if (s.properties) return "object";
      if (s.additionalProperties && typeof s.additionalProperties === "object") return "map";
      return "json";
    default:
      return "json";
  }
}

/** One field descriptor for the property `name` with schema `schema`. */
export function describeField(name, schema, root, { required = false, path = name, siblings = [] } = {}) {
  const { schema: s, nullable } = unwrapNullable(schema, root);
  const kind = kindOf(name, s, siblings);
  const field = {
    name,
    path,
    kind,
    title: s.title || name,
    description: s.description || "",
    required,
    nullable,
    default: s.default,
    advanced: ADVANCED.has(name),
  };
  if (kind === "enum") field.options = s.enum ?? [s.const];
  if (kind === "number" || kind === "integer") {
    field.min = s.minimum ?? s.exclusiveMinimum;
    field.max = s.maximum ?? s.exclusiveMaximum;
    field.exclusiveMin = s.exclusiveMinimum !== undefined;
    field.exclusiveMax = s.exclusiveMaximum !== undefined;
  }
  if (kind === "string" || kind === "text") {
    field.minLength = s.minLength;
    field.maxLength = s.maxLength;
  }
  if (kind === "list") {
    field.item = describeField("item", s.items || {}, root, { path: `${path}.*` });
    field.minItems = s.minItems;
    field.maxItems = s.maxItems;
  }
  if (kind === "map") field.value = describeField("value", s.additionalProperties, root, { path: `${path}.*` });
  if (kind === "object") field.fields = fieldsOf(s, root, path);
  return field;
}

/** Field descriptors of an object schema's properties, in declaration order. */
export function fieldsOf(schema, root = schema, prefix = "") {
  const s = deref(schema, root);
  const props = s.properties || {};
  const names = Object.keys(props);
  const required = new Set(s.required || []);
  return names.map((name) =>
    describeField(name, props[name], root, {
      required: required.has(name),
      path: prefix ? `${prefix}.${name}` : name,
      siblings: names,
    }),
  );
}

/** An empty value of the right shape for a new list item or field. */
export function emptyValue(field) {
  if (field.default !== undefined) return structuredClone(field.default);
  switch (field.kind) {
    case "number":
    case "integer":
      return field.min ?? 0;
    case "boolean":
      return false;
    case "enum":
      return field.options[0];
    case "list":
      return [];
    case "map":
      return {};
    case "object":
      return Object.fromEntries(field.fields.filter((f) => f.required).map((f) => [f.name, emptyValue(f)]));
    case "json":
      return null;
    default:
      return "";
  }
}

/** The problem with `value` for `field`, or null. Mirrors the JSON Schema
 *  keywords pydantic emits; the server's validation stays the authority. */
export function fieldError(field, value) {
  if (value === undefined || value === null) {
    return field.required && !field.nullable && field.default === undefined ? "Required." : null;
  }
  switch (field.kind) {
    case "number":
    case "integer": {
      if (typeof value !== "number" || Number.isNaN(value)) return "Enter a number.";
      if (field.kind === "integer" && !Number.isInteger(value)) return "Enter a whole number.";
      if (field.min !== undefined && (field.exclusiveMin ? value <= field.min : value < field.min)) {
        return `Must be ${field.exclusiveMin ? "more than" : "at least"} ${field.min}.`;
      }
      if (field.max !== undefined && (field.exclusiveMax ? value >= field.max : value > field.max)) {
        return `Must be ${field.exclusiveMax ? "less than" : "at most"} ${field.max}.`;
      }
      return null;
    }
    case "string":
    case "text":
    case "model":
      if (typeof value !== "string") return "Enter text.";
      if (field.minLength && value.length < field.minLength) {
        return field.minLength === 1 ? "Required." : `At least ${field.minLength} characters.`;
      }
      if (field.maxLength && value.length > field.maxLength) return `At most ${field.maxLength} characters.`;
      return null;
    case "enum":
      return field.options.includes(value) ? null : `Choose one of: ${field.options.join(", ")}.`;
    case "boolean":
      return typeof value === "boolean" ? null : "Must be true or false.";
    case "list":
      if (!Array.isArray(value)) return "Must be a list.";
      if (field.minItems && value.length < field.minItems) return `At least ${field.minItems} item(s).`;
      if (field.maxItems !== undefined && value.length > field.maxItems) return `At most ${field.maxItems} item(s).`;
      return null;
    case "map":
    case "object":
      return typeof value === "object" && !Array.isArray(value) ? null : "Must be an object.";
    default:
      return null;
  }
}

/** Every inline error of `config` against the descriptors: {path: message}.
 *  Paths use the server's dotted form ("routes.0.name"). */
export function formErrors(fields, config) {
  const errors = {};
  const walk = (fs, value, prefix) => {
    for (const f of fs) {
      const v = value?.[f.name];
      const path = prefix ? `${prefix}.${f.name}` : f.name;
      const err = fieldError(f, v);
      if (err) errors[path] = err;
      else if (f.kind === "object" && v) walk(f.fields, v, path);
      else if (f.kind === "list" && Array.isArray(v) && f.item.kind === "object") {
        v.forEach((item, i) => walk(f.item.fields, item, `${path}.${i}`));
      }
    }
  };
  walk(fields, config || {}, "");
  return errors;
}

/** Parse what the user typed into a number field: a number, or the raw text
 *  when it is not one (so the field shows "Enter a number"). */
export function parseNumber(text) {
  if (text.trim() === "") return null;
  const n = Number(text);
  return Number.isNaN(n) ? text : n;
}
