/* The runs list, live: ws/team/ events update the status, tokens, cost and
 * elapsed of rows on screen; a new run (any event of a run not on screen)
 * appears at the top of the first page (unfiltered: its row is fetched;
 * filtered: the table is reloaded by htmx, which applies the filters). */
(function () {
  "use strict";

  var reloadTimer = null;
  var asked = {}; // run ids whose row was requested (any event of an unknown run adds it)

  function container() { return document.getElementById("runs-table"); }

  function reloadTable() {
    if (reloadTimer) return;
    reloadTimer = window.setTimeout(function () {
      reloadTimer = null;
      window.htmx.ajax("GET", window.location.pathname + window.location.search, { target: "#runs-table" });
    }, 500);
  }

  function addRow(runId) {
    if (asked[runId]) return;
    asked[runId] = true;
    var table = container().querySelector("table.runs");
    if (!table || table.dataset.live !== "1") {
      if (!table && !new URLSearchParams(window.location.search).get("before")) reloadTable();
      return;
    }
    if (table.dataset.filtered === "1") { reloadTable(); return; }
    var url = container().dataset.rowUrl.replace("/0/", "/" + runId + "/");
    window.fetch(url, { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.text() : ""; })
      .then(function (html) {
        if (!html || document.getElementById("run-" + runId)) return;
        table.querySelector("tbody").insertAdjacentHTML("afterbegin", html);
      });
  }

  function update(message) {
    var row = document.getElementById("run-" + message.run_id);
    if (!row) {
      // Not only run.queued: if that one was lost, the run's next event adds it.
      addRow(message.run_id);
      return;
    }
    if (message.event.indexOf("run.") !== 0) return;
    var status = message.event.slice(4);
    if (status === "queued") return;
    if (status === "started") status = "running";
    var cell = row.querySelector('[data-field="status"]');
    cell.textContent = status;
    cell.className = "status status-" + status;
    var totals = message.payload && message.payload.totals;
    if (totals) {
      row.querySelector('[data-field="tokens"]').textContent = totals.tokens_in + " / " + totals.tokens_out;
      row.querySelector('[data-field="cost"]').textContent = "$" + parseFloat(totals.cost_usd).toFixed(6);
      if (totals.elapsed_ms !== null && totals.elapsed_ms !== undefined) {
        row.querySelector('[data-field="elapsed"]').textContent = (totals.elapsed_ms / 1000).toFixed(1) + " s";
      }
    }
  }

  function start() {
    var box = container();
    if (!box) return;
    new window.QuorumSocket(box.dataset.teamSocket, { onEvent: update }, { ordered: false });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
