/* A client of Quorum's monitoring sockets (docs/monitoring.md).
 *
 * new QuorumSocket(path, {onEvent, onTokens, onReplayed, onStatus}, {ordered})
 * - sends {"type": "resume", "after_seq": lastSeq} on every (re)connect;
 * - with ordered=true (a run socket) delivers each seq once and in order: an event
 *   past a gap is held and the gap is asked for with {"type": "fetch", ...};
 * - reconnects with backoff (0.5 s doubling to 10 s), except after a 44xx close
 *   (not signed in, no such run): those are final.
 * Plain browser JS, no build step.
 */
(function () {
  "use strict";

  function QuorumSocket(path, handlers, options) {
    this.path = path;
    this.handlers = handlers || {};
    this.ordered = !!(options && options.ordered);
    this.lastSeq = 0;
    this.held = new Map();
    this.gapAsked = 0;
    this.backoff = 500;
    this.stopped = false;
    this.open();
  }

  QuorumSocket.prototype.url = function () {
    var scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    return scheme + "//" + window.location.host + this.path;
  };

  QuorumSocket.prototype.status = function (state, code) {
    if (this.handlers.onStatus) this.handlers.onStatus(state, code);
  };

  QuorumSocket.prototype.open = function () {
    var self = this;
    var ws = new WebSocket(this.url());
    this.ws = ws;
    ws.onopen = function () {
      self.backoff = 500;
      self.gapAsked = 0;
      ws.send(JSON.stringify({ type: "resume", after_seq: self.lastSeq }));
      self.status("open");
    };
    ws.onmessage = function (message) {
      self.receive(JSON.parse(message.data));
    };
    ws.onclose = function (event) {
      if (self.stopped) return;
      if (event.code >= 4400 && event.code < 4500) {
        self.status("refused", event.code);
        return;
      }
      self.status("reconnecting", event.code);
      window.setTimeout(function () { self.open(); }, self.backoff);
      self.backoff = Math.min(self.backoff * 2, 10000);
    };
  };

  QuorumSocket.prototype.close = function () {
    this.stopped = true;
    if (this.ws) this.ws.close();
  };

  QuorumSocket.prototype.receive = function (message) {
    if (message.type === "event") this.event(message);
    else if (message.type === "tokens") {
      if (this.handlers.onTokens) this.handlers.onTokens(message);
    } else if (message.type === "replayed") {
      this.status("live");
      if (this.handlers.onReplayed) this.handlers.onReplayed(message.last_seq);
    } else if (message.type === "error") {
      window.console.warn("Quorum socket: " + message.message);
    }
  };

  QuorumSocket.prototype.event = function (message) {
    if (!this.ordered) {
      this.handlers.onEvent(message);
      return;
    }
    if (message.seq <= this.lastSeq) return; // already delivered
    if (message.seq > this.lastSeq + 1) {
      this.held.set(message.seq, message);
      this.askForGap();
      return;
    }
    this.deliver(message);
    while (this.held.has(this.lastSeq + 1)) {
      var next = this.held.get(this.lastSeq + 1);
      this.held.delete(next.seq);
      this.deliver(next);
    }
  };

  QuorumSocket.prototype.deliver = function (message) {
    this.lastSeq = message.seq;
    this.handlers.onEvent(message);
  };

  QuorumSocket.prototype.askForGap = function () {
    var first = Math.min.apply(null, Array.from(this.held.keys()));
    if (this.gapAsked >= first - 1 || this.ws.readyState !== WebSocket.OPEN) return;
    this.gapAsked = first - 1;
    this.ws.send(JSON.stringify({ type: "fetch", from_seq: this.lastSeq + 1, to_seq: first - 1 }));
  };

  window.QuorumSocket = QuorumSocket;
})();
