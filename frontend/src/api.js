// Thin fetch wrappers for the REST API (/api/): session cookie + CSRF header.

function csrfToken() {
  const m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return m ? decodeURIComponent(m[1]) : "";
}

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.detail) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

export async function api(method, path, body) {
  const response = await fetch(`/api${path}`, {
    method,
    credentials: "same-origin",
    headers: {
      Accept: "application/json",
      ...(body !== undefined ? { "Content-Type": "application/json" } : {}),
      ...(method !== "GET" ? { "X-CSRFToken": csrfToken() } : {}),
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { detail: text.slice(0, 200) };
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

/** Problems from an API error body, or one synthetic problem naming the error. */
export function problemsOf(error) {
  if (error && error.body && Array.isArray(error.body.problems)) return error.body.problems;
  if (error && error.body && Array.isArray(error.body.detail)) {
    return error.body.detail.map((d) => ({ code: "invalid_request", message: `${(d.loc || []).join(".")}: ${d.msg}`, severity: "error" }));
  }
  return [{ code: "request_failed", message: String(error && error.message), severity: "error" }];
}
