// The selected node's settings, generated from its type's JSON Schema.
import { useMemo } from "react";
import { Fields } from "./Fields.jsx";
import { fieldsOf, formErrors } from "./schemaForm.js";

export default function SettingsPanel({ node, entry, models, variables, serverProblems, readOnly, onChange }) {
  const fields = useMemo(() => (entry ? fieldsOf(entry.config_schema) : []), [entry]);
  const config = node.data.config || {};
  const errors = useMemo(() => {
    const local = formErrors(fields, config);
    for (const p of serverProblems) if (p.field && !local[p.field]) local[p.field] = p.message;
    return local;
  }, [fields, config, serverProblems]);
  const ctx = { prefix: `${node.id}-`, models, variables, readOnly };
  const main = fields.filter((f) => !f.advanced);
  const advanced = fields.filter((f) => f.advanced);
  const general = serverProblems.filter((p) => !p.field);
  return (
    <section className="q-settings" aria-label="Node settings">
      <h2>{entry ? entry.title : node.data.type}</h2>
      <p className="q-node-id">
        id <code>{node.id}</code>
      </p>
      {entry && <p className="field-help">{entry.description}</p>}
      {general.map((p, i) => (
        <p key={i} className={p.severity === "warning" ? "field-warning" : "field-error"}>
          {p.severity === "warning" ? "Warning: " : ""}
          {p.message}
        </p>
      ))}
      <div className="field">
        <label htmlFor={`label-${node.id}`}>Label</label>
        <input id={`label-${node.id}`} value={node.data.label || ""} disabled={readOnly} onChange={(e) => onChange({ label: e.target.value }, `label:${node.id}`)} />
      </div>
      <Fields fields={main} value={config} errors={errors} ctx={ctx} onChange={(c) => onChange({ config: c }, `config:${node.id}`)} />
      {advanced.length > 0 && (
        <details>
          <summary>Retries and timeout</summary>
          <Fields fields={advanced} value={config} errors={errors} ctx={ctx} onChange={(c) => onChange({ config: c }, `config:${node.id}`)} />
        </details>
      )}
    </section>
  );
}
