/* The run page: folds the run's events (replayed, then live) into node states,
 * per-node badges and totals; streams token text; refreshes the step table
 * (htmx, on "steps-changed") and the Plotly timeline. See docs/monitoring.md. */
(function () {
  "use strict";

  var TERMINAL = ["succeeded", "failed", "cancelled"];
  // Which state a node shows when its instances differ (first match wins).
  var PRIORITY = ["running", "retrying", "queued", "waiting", "failed", "cancelled", "succeeded", "skipped"];

  function $(id) { return document.getElementById(id); }

  function money(value) { return "$" + value.toFixed(6); }

  function Run(config) {
    this.config = config;
    this.nodes = {}; // node id -> {instances: {key: status}, latencyMs, tokensIn, tokensOut, cost}
    this.steps = {}; // step id -> node id
    this.totals = { tokensIn: 0, tokensOut: 0, cost: 0, steps: 0 };
    this.status = config.status;
    this.startedAt = null;
    this.finishedAt = null;
    this.replayed = false;
    this.liveStates = {}; // node id -> states shown after the replay, in order (for tests)
    this.costAtReplay = null;
    this.timelinePending = false;
    this.timelineAt = 0;
  }

  Run.prototype.node = function (id) {
    if (!this.nodes[id]) {
      this.nodes[id] = { instances: {}, latencyMs: 0, tokensIn: 0, tokensOut: 0, cost: 0 };
    }
    return this.nodes[id];
  };

  Run.prototype.setInstance = function (p, status) {
    var key = (p.iteration || 0) + ":" + (p.item === null || p.item === undefined ? "-" : p.item);
    this.node(p.node_id).instances[key] = status;
    this.paintNode(p.node_id);
  };

  Run.prototype.apply = function (message) {
    var p = message.payload || {};
    var type = message.event;
    if (type.indexOf("step.") === 0 && p.step_id !== undefined && !(p.step_id in this.steps)) {
      this.steps[p.step_id] = p.node_id;
      this.totals.steps += 1;
    }
    switch (type) {
      case "run.started": this.startedAt = Date.parse(message.ts); this.setStatus("running"); break;
      case "run.waiting": this.setStatus("waiting"); break;
      case "run.succeeded": case "run.failed": case "run.cancelled":
        this.finishedAt = Date.parse(message.ts);
        this.setStatus(type.slice(4));
        if (p.totals) this.setTotals(p.totals);
        if (p.error || p.reason) this.showError(p.error || p.reason);
        break;
      case "step.queued": this.setInstance(p, "queued"); break;
      case "step.started": this.setInstance(p, "running"); break;
      case "step.retrying": // a new attempt: the text streamed by the old one was lost
        this.setInstance(p, "retrying");
        document.querySelectorAll('#live-output-streams .stream.running[data-node="' + CSS.escape(p.node_id) + '"]')
          .forEach(function (box) { if (box.dataset.step !== String(p.step_id)) box.className = "stream failed"; });
        break;
      case "step.succeeded":
        this.setInstance(p, "succeeded");
        var done = this.node(p.node_id);
        if (p.items !== undefined) { // a map's own step: its wall time replaces the items' sum
          done.latencyMs = p.latency_ms || 0;
          done.mapDone = true;
        } else if (!done.mapDone) {
          done.latencyMs += p.latency_ms || 0;
        }
        this.paintNode(p.node_id);
        this.endStream(p.step_id, "succeeded");
        break;
      case "step.failed":
        this.setInstance(p, p.will_retry ? "retrying" : "failed");
        this.endStream(p.step_id, "failed");
        break;
      case "step.skipped": this.setInstance(p, "skipped"); break;
      case "step.cancelled": this.setInstance(p, "cancelled"); this.endStream(p.step_id, "cancelled"); break;
      case "llm.call":
        var node = this.node(p.node_id);
        var cost = p.cost_usd === null || p.cost_usd === undefined ? 0 : parseFloat(p.cost_usd);
        node.tokensIn += p.tokens_in || 0;
        node.tokensOut += p.tokens_out || 0;
        node.cost += cost;
        this.totals.tokensIn += p.tokens_in || 0;
        this.totals.tokensOut += p.tokens_out || 0;
        this.totals.cost += cost;
        this.paintNode(p.node_id);
        this.paintTotals();
        break;
    }
    if (type.indexOf("step.") === 0) {
      this.paintTotals();
      if (this.replayed) this.stepsChanged();
    }
  };

  Run.prototype.setStatus = function (status) {
    this.status = status;
    var el = $("run-status");
    el.textContent = status;
    el.className = "status status-" + status;
    if (TERMINAL.indexOf(status) >= 0) {
      var cancel = $("cancel-form");
      if (cancel) cancel.hidden = true;
    }
  };

  Run.prototype.showError = function (text) {
    var el = $("run-error");
    el.textContent = text;
    el.hidden = false;
  };

  Run.prototype.setTotals = function (totals) {
    this.totals.tokensIn = totals.tokens_in;
    this.totals.tokensOut = totals.tokens_out;
    this.totals.cost = parseFloat(totals.cost_usd);
    if (totals.steps) this.totals.steps = totals.steps;
    this.paintTotals();
  };

  Run.prototype.paintTotals = function () {
    $("total-tokens-in").textContent = this.totals.tokensIn;
    $("total-tokens-out").textContent = this.totals.tokensOut;
    $("total-cost").textContent = money(this.totals.cost);
    $("total-steps").textContent = this.totals.steps;
  };

  Run.prototype.tick = function () {
    if (this.startedAt === null) return;
    var end = this.finishedAt === null ? Date.now() : this.finishedAt;
    $("total-elapsed").textContent = ((end - this.startedAt) / 1000).toFixed(1) + " s";
  };

  Run.prototype.paintNode = function (id) {
    var group = document.querySelector('#run-graph [data-node="' + CSS.escape(id) + '"]');
    if (!group) return;
    var node = this.nodes[id];
    var statuses = Object.keys(node.instances).map(function (k) { return node.instances[k]; });
    var state = "idle";
    for (var i = 0; i < PRIORITY.length; i++) {
      if (statuses.indexOf(PRIORITY[i]) >= 0) { state = PRIORITY[i]; break; }
    }
    group.setAttribute("class", "node state-" + state);
    group.dataset.state = state;
    if (this.replayed) {
      var seen = this.liveStates[id] || (this.liveStates[id] = []);
      if (seen[seen.length - 1] !== state) seen.push(state);
    }
    var label = state;
    // A map counts its items (keys "iteration:item"), not its own instance "k:-".
    var items = Object.keys(node.instances).filter(function (k) { return !/:-$/.test(k); });
    var counted = items.length ? items.map(function (k) { return node.instances[k]; }) : statuses;
    if (counted.length > 1) {
      var done = counted.filter(function (s) { return s === "succeeded"; }).length;
      label += " " + done + "/" + counted.length;
    }
    group.querySelector('[data-role="state"]').textContent = label;
    var badge = [];
    if (node.latencyMs) badge.push(Math.round(node.latencyMs) + " ms");
    if (node.tokensIn || node.tokensOut) badge.push(node.tokensIn + "/" + node.tokensOut + " tok");
    if (node.cost) badge.push(money(node.cost));
    if (badge.length) group.querySelector('[data-role="badge"]').textContent = badge.join(" · ");
  };

  Run.prototype.stream = function (message) {
    var box = document.querySelector('#live-output-streams [data-step="' + message.step_id + '"]');
    if (!box) {
      box = document.createElement("article");
      box.className = "stream running";
      box.dataset.step = message.step_id;
      box.dataset.node = message.node_id;
      var header = document.createElement("header");
      header.textContent = message.node_id + " · step " + message.step_id;
      var pre = document.createElement("pre");
      box.appendChild(header);
      box.appendChild(pre);
      $("live-output-streams").prepend(box);
      $("live-output-empty").hidden = true;
    }
    box.querySelector("pre").textContent += message.text;
  };

  Run.prototype.endStream = function (stepId, status) {
    var box = document.querySelector('#live-output-streams [data-step="' + stepId + '"]');
    if (box) box.className = "stream " + status;
  };

  Run.prototype.stepsChanged = function () {
    document.body.dispatchEvent(new CustomEvent("steps-changed"));
    this.refreshTimeline();
  };

  Run.prototype.refreshTimeline = function () {
    var self = this;
    if (this.timelinePending) return;
    if (!window.Plotly) { // still loading (it comes after this script)
      if (!this.timelineWaiting) {
        this.timelineWaiting = true;
        window.setTimeout(function () { self.timelineWaiting = false; self.refreshTimeline(); }, 500);
      }
      return;
    }
    var wait = Math.max(0, this.timelineAt + 2000 - Date.now());
    this.timelinePending = true;
    window.setTimeout(function () {
      self.timelineAt = Date.now();
      window.fetch(self.config.timeline, { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (figure) {
          return window.Plotly.react($("run-timeline"), figure.data, figure.layout,
            { responsive: true, displaylogo: false });
        })
        .catch(function (err) { window.console.warn("timeline: " + err); })
        .then(function () { self.timelinePending = false; });
    }, wait);
  };

  function start() {
    var config = JSON.parse($("run-config").textContent);
    var run = new Run(config);
    var indicator = $("live-indicator");
    new window.QuorumSocket(config.socket, {
      onEvent: function (message) { run.apply(message); },
      onTokens: function (message) { run.stream(message); },
      onReplayed: function () {
        run.replayed = true;
        run.costAtReplay = run.totals.cost;
        run.statusAtReplay = run.status;
        run.tick();
        run.stepsChanged();
      },
      onStatus: function (state, code) {
        indicator.textContent = state === "refused" ? "refused (" + code + ")" : state;
        indicator.dataset.state = state;
      },
    }, { ordered: true });
    window.setInterval(function () { run.tick(); }, 250);
    window.quorumRun = run;
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
