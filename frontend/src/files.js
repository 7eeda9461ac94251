// Export the graph as a JSON file; import one as a new workflow.
import { api, problemsOf } from "./api.js";

export function exportFile(name, description, graph) {
  const blob = new Blob([JSON.stringify({ name, description, graph }, null, 2)], { type: "application/json" });
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = `${name.replace(/[^a-zA-Z0-9_-]+/g, "-").replace(/^-|-$/g, "") || "workflow"}.json`;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** Parse an exported file (or a bare graph document) into the import request. */
export function parseImport(text, fileName) {
  let data;
  try {
    data = JSON.parse(text);
  } catch (exc) {
    return { error: `${fileName} is not JSON: ${exc.message}` };
  }
  if (!data || typeof data !== "object" || Array.isArray(data)) return { error: `${fileName} does not hold a JSON object.` };
  const graph = data.graph && typeof data.graph === "object" ? data.graph : data;
  const stem = fileName.replace(/\.json$/i, "");
  const name = `${typeof data.name === "string" && data.name ? data.name : stem} (imported ${new Date().toISOString().slice(0, 16).replace("T", " ")})`;
  return { request: { name: name.slice(0, 200), description: typeof data.description === "string" ? data.description : "", graph } };
}

export async function importFile(file) {
  const parsed = parseImport(await file.text(), file.name);
  if (parsed.error) return parsed;
  try {
    const result = await api("POST", "/workflows/import", parsed.request);
    return { workflow: result.workflow, problems: result.problems };
  } catch (error) {
    return { error: `Import refused: ${error.message}`, problems: problemsOf(error) };
  }
}
