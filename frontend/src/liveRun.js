// Follows one run: the WebSocket event stream (/ws/runs/<id>/, resume from
// the last seq, fetch gaps), falling back to polling GET /api/runs/<id> every
// 500 ms when the socket cannot open or drops. Calls onUpdate(updater) with a
// function of the previous run state, and onTransport(name).
import { api } from "./api.js";
import { applyEvent, fromRunDetail, TERMINAL_RUN } from "./runState.js";

export function followRun(runId, { onUpdate, onTransport, onTokens, onEnd }) {
  let stopped = false;
  let socket = null;
  let pollTimer = null;
  let lastSeq = 0;
  let ended = false;

  const finish = () => {
    if (ended) return;
    ended = true;
    onEnd();
  };

  const poll = async () => {
    if (stopped) return;
    try {
      const detail = await api("GET", `/runs/${runId}`);
      onUpdate((run) => fromRunDetail(run, detail));
      if (TERMINAL_RUN.has(detail.status)) {
        finish();
        return;
      }
    } catch {
      // keep polling: the server may be restarting
    }
    pollTimer = setTimeout(poll, 500);
  };

  const fallback = () => {
    if (stopped || pollTimer || ended) return;
    onTransport("polling");
    poll();
  };

  try {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws/runs/${runId}/`);
  } catch {
    fallback();
  }
  if (socket) {
    const opened = setTimeout(() => socket.readyState !== WebSocket.OPEN && fallback(), 3000);
    socket.onopen = () => {
      clearTimeout(opened);
      onTransport("live");
      socket.send(JSON.stringify({ type: "resume", after_seq: lastSeq }));
    };
    socket.onmessage = (message) => {
      let data;
      try {
        data = JSON.parse(message.data);
      } catch {
        return;
      }
      if (data.type === "event") {
        if (data.seq > lastSeq + 1) {
          socket.send(JSON.stringify({ type: "fetch", from_seq: lastSeq + 1, to_seq: data.seq - 1 }));
        }
        lastSeq = Math.max(lastSeq, data.seq);
        onUpdate((run) => applyEvent(run, data));
        if (["run.succeeded", "run.failed", "run.cancelled"].includes(data.event)) finish();
      } else if (data.type === "tokens") {
        onTokens(data.node_id, data.text);
      }
    };
    socket.onerror = () => fallback();
    socket.onclose = () => {
      clearTimeout(opened);
      if (!ended) fallback();
    };
  }

  return () => {
    stopped = true;
    clearTimeout(pollTimer);
    if (socket && socket.readyState <= 1) socket.close();
  };
}
