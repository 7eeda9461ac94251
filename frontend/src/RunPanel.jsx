// Test run: an input form from the graph's input schema, the run's status,
// and the selected node's steps (inputs, outputs, tokens, cost, latency, errors).
import { useMemo, useState } from "react";
import { Fields } from "./Fields.jsx";
import { fieldsOf, formErrors } from "./schemaForm.js";
import { stepInputs } from "./runState.js";

const json = (v) => JSON.stringify(v, null, 2);

export function RunForm({ inputsSchema, latestVersion, draftDirty, onStart, busy, error }) {
  const fields = useMemo(() => fieldsOf(inputsSchema || { type: "object", properties: {} }), [inputsSchema]);
  const [values, setValues] = useState({});
  const errors = useMemo(() => formErrors(fields, values), [fields, values]);
  const ready = Object.keys(errors).length === 0;
  return (
    <section className="q-run-form" aria-label="Test run">
      <h2>Test run</h2>
      {latestVersion == null ? (
        <p className="empty">Publish a version to run it.</p>
      ) : (
        <form
          onSubmit={(e) => {
            e.preventDefault();
            if (ready) onStart(values);
          }}
        >
          <p className="field-help">
            Runs v{latestVersion} on the workers{draftDirty ? " (the draft has unpublished changes)" : ""}.
          </p>
          <Fields fields={fields} value={values} onChange={setValues} errors={errors} ctx={{ prefix: "run-", models: [], readOnly: false }} />
          {error && (
            <p className="field-error" role="alert">
              {error}
            </p>
          )}
          <button type="submit" disabled={busy || !ready}>
            Run v{latestVersion}
          </button>
        </form>
      )}
    </section>
  );
}

export function RunStatus({ run, transport, onClose }) {
  return (
    <div className={`q-run-status run-${run.status}`} role="status">
      Run #{run.runId}: <strong className="q-run-state">{run.status}</strong>
      {run.error && <span className="field-error"> — {run.error}</span>}
      <small> ({transport})</small>
      <button type="button" className="secondary outline small" onClick={onClose}>
        Clear
      </button>
    </div>
  );
}

export function StepDetails({ nodeId, detail, edges, tokens }) {
  if (!detail) return <p aria-busy="true">Loading the run…</p>;
  const steps = detail.steps.filter((s) => s.node_id === nodeId);
  if (!steps.length) return <p className="empty">No step of {nodeId} in run #{detail.id} yet.</p>;
  const inputs = stepInputs(nodeId, edges, detail.steps);
  return (
    <section className="q-step-details" aria-label={`Steps of ${nodeId}`}>
      <h3>In run #{detail.id}</h3>
      {Object.keys(inputs).length > 0 && (
        <>
          <h4>Inputs</h4>
          <pre>{json(inputs)}</pre>
        </>
      )}
      {steps.map((s) => (
        <div key={s.id} className={`q-step run-${s.status}`}>
          <p>
            <strong>{s.status}</strong> · attempt {s.attempt}
            {s.item != null ? ` · item ${s.item}` : ""}
            {s.iteration ? ` · iteration ${s.iteration}` : ""}
          </p>
          <dl>
            {s.latency_ms != null && (
              <>
                <dt>Latency</dt>
                <dd>{Math.round(s.latency_ms)} ms</dd>
              </>
            )}
            {(s.tokens_in > 0 || s.tokens_out > 0) && (
              <>
                <dt>Tokens</dt>
                <dd>
                  {s.tokens_in} in / {s.tokens_out} out
                </dd>
              </>
            )}
            {s.model && (
              <>
                <dt>Model</dt>
                <dd>
                  {s.provider} / {s.model}
                </dd>
              </>
            )}
            <dt>Cost</dt>
            <dd>{s.cost_usd != null ? `$${Number(s.cost_usd).toFixed(6)}` : "unpriced"}</dd>
          </dl>
          {s.error && (
            <pre className="field-error" role="alert">
              {s.error}
            </pre>
          )}
          {s.outputs && (
            <>
              <h4>Outputs</h4>
              <pre>{json(s.outputs)}</pre>
            </>
          )}
        </div>
      ))}
      {tokens && steps.some((s) => s.status === "running") && <pre className="q-tokens">{tokens}</pre>}
    </section>
  );
}
