// Renders form fields described by schemaForm.js. Controlled: `value` in,
// `onChange(newValue)` out. `errors` maps dotted paths to messages (inline).
import { useState } from "react";
import { emptyValue, parseNumber } from "./schemaForm.js";

const uid = (path) => `f-${path.replace(/[^a-zA-Z0-9_-]/g, "-")}`;

function Help({ field, error }) {
  return (
    <>
      {field.description && <small className="field-help">{field.description}</small>}
      {error && (
        <small className="field-error" role="alert">
          {error}
        </small>
      )}
    </>
  );
}

function ModelPicker({ id, provider, model, models, onChange, disabled }) {
  const current = `${provider}\u0000${model}`;
  const known = models.some((m) => `${m.provider}\u0000${m.model}` === current);
  const price = (m) =>
    m.input_per_mtok != null
      ? ` — $${Number(m.input_per_mtok)} in / $${Number(m.output_per_mtok)} out per 1M tokens`
      : " — unpriced";
  return (
    <select
      id={id}
      value={current}
      disabled={disabled}
      onChange={(e) => {
        const [p, m] = e.target.value.split("\u0000");
        onChange(p, m);
      }}
    >
      {!known && (
        <option value={current}>
          {provider} / {model} (not configured for this team)
        </option>
      )}
      {models.map((m) => (
        <option key={`${m.provider}/${m.model}`} value={`${m.provider}\u0000${m.model}`}>
          {m.provider} / {m.model}
          {m.simulated ? " (simulated)" : ""}
          {price(m)}
        </option>
      ))}
    </select>
  );
}

export function Field({ field, value, onChange, errors, ctx }) {
  const id = uid(ctx.prefix + field.path);
  const error = errors[field.path];
  const invalid = error ? { "aria-invalid": "true" } : {};
  const shown = value === undefined ? field.default : value;
  const label = (
    <label htmlFor={id}>
      {field.title}
      {field.required && field.default === undefined ? " *" : ""}
    </label>
  );
  switch (field.kind) {
    case "boolean":
      return (
        <div className="field">
          <label htmlFor={id}>
            <input id={id} type="checkbox" role="switch" checked={!!shown} disabled={ctx.readOnly} onChange={(e) => onChange(e.target.checked)} />
            {field.title}
          </label>
          <Help field={field} error={error} />
        </div>
      );
    case "enum":
      return (
        <div className="field">
          {label}
          <select id={id} value={shown ?? ""} disabled={ctx.readOnly} onChange={(e) => onChange(field.options.find((o) => String(o) === e.target.value))} {...invalid}>
            {field.nullable && <option value="">—</option>}
            {field.options.map((o) => (
              <option key={String(o)} value={String(o)}>
                {String(o)}
              </option>
            ))}
          </select>
          <Help field={field} error={error} />
        </div>
      );
    case "number":
    case "integer":
      return (
        <div className="field">
          {label}
          <input
            id={id}
            type="number"
            step={field.kind === "integer" ? 1 : "any"}
            min={field.min}
            max={field.max}
            value={shown ?? ""}
            disabled={ctx.readOnly}
            onChange={(e) => onChange(parseNumber(e.target.value))}
            {...invalid}
          />
          <Help field={field} error={error} />
        </div>
      );
    case "text":
      return (
        <div className="field">
          {label}
          <textarea id={id} rows={field.name === "prompt" || field.name === "template" ? 5 : 3} value={shown ?? ""} disabled={ctx.readOnly} onChange={(e) => onChange(e.target.value)} {...invalid} />
          {ctx.variables && ["prompt", "system", "template", "body"].includes(field.name) && (
            <small className="field-vars">
              Variables:{" "}
              {ctx.variables.map((v) => (
                <code key={v}>{`{{ ${v} }}`}</code>
              ))}
            </small>
          )}
          <Help field={field} error={error} />
        </div>
      );
    case "list":
      return <ListField field={field} value={Array.isArray(value) ? value : (shown ?? [])} onChange={onChange} errors={errors} ctx={ctx} />;
    case "map":
      return <MapField field={field} value={value ?? shown ?? {}} onChange={onChange} errors={errors} ctx={ctx} />;
    case "object":
      return (
        <fieldset className="field nested">
          <legend>{field.title}</legend>
          <Help field={field} error={error} />
          <Fields fields={field.fields} value={value || {}} onChange={onChange} errors={errors} ctx={ctx} />
        </fieldset>
      );
    case "json":
      return <JsonField id={id} label={label} field={field} value={shown} onChange={onChange} error={error} ctx={ctx} />;
    default:
      return (
        <div className="field">
          {label}
          <input id={id} type="text" value={shown ?? ""} disabled={ctx.readOnly} onChange={(e) => onChange(field.nullable && e.target.value === "" ? null : e.target.value)} {...invalid} />
          <Help field={field} error={error} />
        </div>
      );
  }
}

function JsonField({ id, label, field, value, onChange, error, ctx }) {
  const [text, setText] = useState(() => (value == null ? "" : JSON.stringify(value, null, 2)));
  const [parseError, setParseError] = useState("");
  return (
    <div className="field">
      {label}
      <textarea
        id={id}
        rows={4}
        className="mono"
        value={text}
        disabled={ctx.readOnly}
        onChange={(e) => {
          setText(e.target.value);
          if (e.target.value.trim() === "") {
            setParseError("");
            onChange(null);
            return;
          }
          try {
            onChange(JSON.parse(e.target.value));
            setParseError("");
          } catch (exc) {
            setParseError(`Not valid JSON: ${exc.message}`);
          }
        }}
      />
      <Help field={field} error={parseError || error} />
    </div>
  );
}

function ListField({ field, value, onChange, errors, ctx }) {
  const item = field.item;
  const set = (i, v) => onChange(value.map((x, j) => (j === i ? v : x)));
  return (
    <fieldset className="field nested">
      <legend>{field.title}</legend>
      <Help field={field} error={errors[field.path]} />
      {value.map((v, i) => {
        const itemField = { ...item, path: `${field.path}.${i}`, title: `${field.title} ${i + 1}`, fields: item.fields?.map((f) => ({ ...f, path: `${field.path}.${i}.${f.name}` })) };
        return (
          <div className="list-item" key={i}>
            <Field field={itemField} value={v} onChange={(nv) => set(i, nv)} errors={errors} ctx={ctx} />
            {!ctx.readOnly && (
              <button type="button" className="secondary outline small" aria-label={`Remove ${field.title} ${i + 1}`} onClick={() => onChange(value.filter((_, j) => j !== i))}>
                Remove
              </button>
            )}
          </div>
        );
      })}
      {!ctx.readOnly && (
        <button type="button" className="secondary outline small" onClick={() => onChange([...value, emptyValue(item)])}>
          Add {field.title.replace(/s$/, "").toLowerCase()}
        </button>
      )}
    </fieldset>
  );
}

function MapField({ field, value, onChange, errors, ctx }) {
  const entries = Object.entries(value);
  const rename = (old, key) => onChange(Object.fromEntries(entries.map(([k, v]) => [k === old ? key : k, v])));
  return (
    <fieldset className="field nested">
      <legend>{field.title}</legend>
      <Help field={field} error={errors[field.path]} />
      {entries.map(([k, v], i) => (
        <div className="map-row" key={i}>
          <input aria-label={`${field.title} key ${i + 1}`} value={k} disabled={ctx.readOnly} onChange={(e) => rename(k, e.target.value)} />
          <Field field={{ ...field.value, path: `${field.path}.${k}`, title: "Value" }} value={v} onChange={(nv) => onChange({ ...value, [k]: nv })} errors={errors} ctx={{ ...ctx, prefix: `${ctx.prefix}${i}-` }} />
          {!ctx.readOnly && (
            <button type="button" className="secondary outline small" onClick={() => onChange(Object.fromEntries(entries.filter(([key]) => key !== k)))}>
              Remove
            </button>
          )}
        </div>
      ))}
      {!ctx.readOnly && (
        <button type="button" className="secondary outline small" onClick={() => { let key = "key"; for (let n = 2; key in value; n += 1) key = `key${n}`; onChange({ ...value, [key]: emptyValue(field.value) }); }}>
          Add entry
        </button>
      )}
    </fieldset>
  );
}

/** The fields of an object; `model` fields get the provider + model picker. */
export function Fields({ fields, value, onChange, errors, ctx }) {
  const hasModel = fields.some((f) => f.kind === "model");
  return fields
    .filter((f) => !(hasModel && f.name === "provider"))
    .map((f) => {
      if (f.kind === "model") {
        const id = uid(ctx.prefix + f.path);
        return (
          <div className="field" key={f.name}>
            <label htmlFor={id}>Model</label>
            <ModelPicker
              id={id}
              provider={value.provider ?? fields.find((x) => x.name === "provider")?.default ?? ""}
              model={value.model ?? f.default ?? ""}
              models={ctx.models || []}
              disabled={ctx.readOnly}
              onChange={(provider, model) => onChange({ ...value, provider, model })}
            />
            <Help field={f} error={errors[f.path] || errors[f.path.replace(/model$/, "provider")]} />
          </div>
        );
      }
      return <Field key={f.name} field={f} value={value[f.name]} onChange={(v) => onChange({ ...value, [f.name]: v })} errors={errors} ctx={ctx} />;
    });
}
