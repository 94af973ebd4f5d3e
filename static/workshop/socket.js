/* A websocket that reconnects by itself: backoff with jitter, and at once when
   the browser comes back online or the page becomes visible again.
   Plain ES2017 so that Safari 15 runs it. */
(function () {
  "use strict";

  function LiveSocket(path, handlers, options) {
    this.path = path;
    this.handlers = handlers;
    this.maxDelay = (options && options.maxDelay) || 30000;
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.stopped = false;
    var self = this;
    window.addEventListener("online", function () { self.reconnectNow(); });
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") { self.reconnectNow(); }
    });
    this.connect();
  }

  LiveSocket.prototype.url = function () {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    return scheme + window.location.host + this.path;
  };

  LiveSocket.prototype.connect = function () {
    var self = this;
    if (this.stopped) { return; }
    clearTimeout(this.timer);
    this.timer = null;
    var ws = new WebSocket(this.url());
    this.ws = ws;
    this.handlers.state("connecting");
    ws.onopen = function () {
      self.attempt = 0;
      self.handlers.open(ws);
    };
    ws.onmessage = function (event) {
      var message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      self.handlers.message(message);
    };
    ws.onclose = function (event) {
      if (self.ws !== ws) { return; }
      self.ws = null;
      if (self.handlers.final(event.code)) {
        self.stopped = true;
        return;
      }
      self.handlers.state("offline");
      self.schedule();
    };
  };

  LiveSocket.prototype.schedule = function () {
    var self = this;
    if (this.timer || this.stopped) { return; }
    var base = Math.min(this.maxDelay, 500 * Math.pow(2, this.attempt));
    this.attempt += 1;
    var delay = base / 2 + Math.random() * base / 2;
    this.timer = setTimeout(function () { self.timer = null; self.connect(); }, delay);
  };

  LiveSocket.prototype.reconnectNow = function () {
    if (this.stopped) { return; }
    if (this.ws && (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING)) { return; }
    this.attempt = 0;
    this.connect();
  };

  /* A connection that stopped answering (no pong in time): drop it and try again soon. */
  LiveSocket.prototype.restart = function () {
    if (this.stopped) { return; }
    var ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = null;
      ws.onmessage = null;
      try { ws.close(); } catch (e) { /* already closing */ }
    }
    this.handlers.state("offline");
    this.attempt = 0;
    this.schedule();
  };

  LiveSocket.prototype.send = function (message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(message));
      return true;
    }
    return false;
  };

  LiveSocket.prototype.isOpen = function () {
    return !!(this.ws && this.ws.readyState === WebSocket.OPEN);
  };

  window.LiveSocket = LiveSocket;
})();
