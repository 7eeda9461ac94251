// Mounts the editor island on #editor-root (templates/editor/edit.html).
import { createRoot } from "react-dom/client";
import "@xyflow/react/dist/style.css";
import "./editor.css";
import { api } from "./api.js";
import Editor from "./Editor.jsx";

async function mount(root) {
  performance.mark("quorum:script-start");
  const config = {
    workflowId: Number(root.dataset.workflowId),
    canEdit: root.dataset.canEdit === "1",
    canPublish: root.dataset.canPublish === "1",
    canRun: root.dataset.canRun === "1",
  };
  try {
    // The page embeds the first load (templates/editor/edit.html); the API is
    // the fallback.
    const embedded = document.getElementById("editor-initial");
    const initial = embedded ? JSON.parse(embedded.textContent) : null;
    const [catalogue, models, workflow] = initial
      ? [initial.catalogue, initial.models, initial.workflow]
      : await Promise.all([
          api("GET", "/editor/catalogue"),
          api("GET", "/models"),
          api("GET", `/workflows/${config.workflowId}`),
        ]);
    performance.mark("quorum:data-loaded");
    createRoot(root).render(<Editor config={config} catalogue={catalogue} models={models} workflow={workflow} />);
  } catch (error) {
    root.textContent = `The editor could not load: ${error.message}`;
    root.setAttribute("role", "alert");
  }
}

const root = document.getElementById("editor-root");
if (root) mount(root);
