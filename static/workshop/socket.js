/* A websocket that reconnects by itself: backoff with jitter, and at once when
   the browser comes back online or the page becomes visible again.

   With options.fallback ({stream, send}: the phone's two HTTP endpoints), a
   socket that cannot open, or keeps dying within seconds, is replaced within
   3 s by plain HTTP: the same JSON messages POSTed, the server's messages
   read from a stream of server-sent events. Now and then (backoff up to five
   minutes) it tries the websocket again and returns to it when it opens.
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
    this.fallback = (options && options.fallback) || null;
    this.http = null;          // the HTTP transport while the socket is out of reach
    this.failures = 0;         // socket attempts that failed since the last good one
    this.fallbackTimer = null;
    this.probeTimer = null;
    this.probeAttempt = 0;
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
    if (this.http) { this.http.connect(); return; }
    var ws = new WebSocket(this.url());
    this.ws = ws;
    this.handlers.state("connecting");
    var openedAt = null;
    // A proxy that swallows the upgrade leaves the socket connecting for ever: that is a failure too.
    var openTimer = this.fallback ? setTimeout(function () {
      if (self.ws === ws && openedAt === null) { ws.onclose = null; try { ws.close(); } catch (e) { /* closing */ } self.ws = null; self.failed(); }
    }, 3000) : null;
    ws.onopen = function () {
      clearTimeout(openTimer);
      openedAt = Date.now();
      self.attempt = 0;
      self.handlers.open(ws);
    };
    ws.onmessage = function (event) {
      var message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      if (openedAt !== null && Date.now() - openedAt > 5000) { self.good(); }
      self.handlers.message(message);
    };
    ws.onclose = function (event) {
      clearTimeout(openTimer);
      if (self.ws !== ws) { return; }
      self.ws = null;
      if (self.handlers.final(event.code)) {
        self.stop();
        return;
      }
      // Never opened, or died within seconds: the network may be blocking websockets.
      if (openedAt === null || Date.now() - openedAt < 5000) { self.failed(); return; }
      self.handlers.state("offline");
      self.schedule();
    };
  };

  LiveSocket.prototype.stop = function () {
    this.stopped = true;
    clearTimeout(this.fallbackTimer);
    clearTimeout(this.probeTimer);
    if (this.http) { this.http.close(); }
  };

  LiveSocket.prototype.good = function () {
    this.failures = 0;
    clearTimeout(this.fallbackTimer);
    this.fallbackTimer = null;
  };

  LiveSocket.prototype.failed = function () {
    var self = this;
    this.handlers.state("offline");
    if (!this.fallback) { this.schedule(); return; }
    this.failures += 1;
    if (this.failures >= 2) { this.useHttp(); return; }
    this.fallbackTimer = setTimeout(function () { if (!self.isOpen()) { self.useHttp(); } }, 2500);
    this.schedule();
  };

  /* Carry on over HTTP, and try the websocket again now and then. */
  LiveSocket.prototype.useHttp = function () {
    if (this.http || this.stopped) { return; }
    clearTimeout(this.timer);
    clearTimeout(this.fallbackTimer);
    this.timer = null;
    this.http = new HttpTransport(this.fallback, this);
    this.probeAttempt = 0;
    this.scheduleProbe();
    this.http.connect();
  };

  /* HTTP failed before it ever worked: back to the websocket and its backoff. */
  LiveSocket.prototype.httpFailed = function () {
    if (!this.http) { return; }
    this.http.close();
    this.http = null;
    clearTimeout(this.probeTimer);
    this.failures = 0;
    this.handlers.state("offline");
    this.schedule();
  };

  LiveSocket.prototype.scheduleProbe = function () {
    var self = this;
    var delay = Math.min(300000, 10000 * Math.pow(2, this.probeAttempt));
    this.probeAttempt += 1;
    this.probeTimer = setTimeout(function () { self.probe(); }, delay / 2 + Math.random() * delay / 2);
  };

  LiveSocket.prototype.probe = function () {
    var self = this;
    if (!this.http || this.stopped) { return; }
    var ws = new WebSocket(this.url());
    var done = false;
    var giveUp = setTimeout(function () { if (!done) { done = true; ws.onclose = null; try { ws.close(); } catch (e) { /* closing */ } self.scheduleProbe(); } }, 3000);
    ws.onopen = function () {
      if (done) { return; }
      done = true;
      clearTimeout(giveUp);
      // The websocket works again: leave HTTP and say hello over the socket.
      self.http.close();
      self.http = null;
      self.failures = 0;
      ws.close();
      self.attempt = 0;
      self.connect();
    };
    ws.onclose = function () {
      if (done) { return; }
      done = true;
      clearTimeout(giveUp);
      self.scheduleProbe();
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
    if (this.http) { this.http.reconnectNow(); return; }
    if (this.ws && (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING)) { return; }
    this.attempt = 0;
    this.connect();
  };

  /* A connection that stopped answering (no pong in time): drop it and try again soon. */
  LiveSocket.prototype.restart = function () {
    if (this.stopped) { return; }
    if (this.http) { this.http.restart(); return; }
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
    if (this.http) { return this.http.send(message); }
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(message));
      return true;
    }
    return false;
  };

  LiveSocket.prototype.isOpen = function () {
    if (this.http) { return this.http.isOpen(); }
    return !!(this.ws && this.ws.readyState === WebSocket.OPEN);
  };

  /* The HTTP transport: `hello` opens a stream of server-sent events (read with fetch, so that
     the token travels in the body, never in a URL); every other message is POSTed, batched while
     a request is out, and the replies come back in the response. */
  function HttpTransport(urls, owner) {
    this.urls = urls;
    this.owner = owner;
    this.token = null;
    this.open = false;
    this.abort = null;
    this.queue = [];
    this.sending = false;
    this.attempt = 0;
    this.timer = null;
    this.closed = false;
    this.welcomedOnce = false;  // until then, a failed stream means the server is away, not the socket
  }

  HttpTransport.prototype.connect = function () {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.closed) { return; }
    this.owner.handlers.state("connecting");
    // The page answers `open` with its hello, which starts the stream (see send).
    this.owner.handlers.open(this);
  };

  HttpTransport.prototype.send = function (message) {
    if (this.closed) { return false; }
    if (message.type === "hello") { this.stream(message); return true; }
    if (!this.open) { return false; }
    if (message.type === "move") {
      // Only the newest position of a slider matters while it is still waiting to go.
      this.queue = this.queue.filter(function (queued) { return !(queued.type === "move" && queued.slider === message.slider); });
    }
    this.queue.push(message);
    this.flush();
    return true;
  };

  HttpTransport.prototype.stream = function (hello) {
    var self = this;
    if (this.abort) { this.abort.abort(); }
    var controller = new AbortController();
    this.abort = controller;
    this.open = false;
    fetch(this.urls.stream, {
      method: "POST", body: JSON.stringify(hello), cache: "no-store", signal: controller.signal,
      headers: { "Content-Type": "application/json", "Accept": "text/event-stream" }
    }).then(function (response) {
      if (!response.ok || !response.body) { throw new Error("stream " + response.status); }
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "";
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) { return null; }
          buffer += decoder.decode(chunk.value, { stream: true });
          var end;
          while ((end = buffer.indexOf("\n\n")) >= 0) {
            var block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            if (block.indexOf("data: ") === 0) {
              var closeCode = self.receive(JSON.parse(block.slice(6)));
              if (closeCode !== null) { return closeCode; }
            }
          }
          return pump();
        });
      }
      return pump();
    }).then(function (closeCode) {
      self.ended(controller, closeCode);
    }, function () {
      self.ended(controller, null);
    });
  };

  /* One message from the server; returns a close code when the stream says the conversation is over. */
  HttpTransport.prototype.receive = function (message) {
    if (message.type === "close") { return message.code; }
    if (message.type === "welcome") {
      this.token = message.token;
      this.open = true;
      this.welcomedOnce = true;
      this.attempt = 0;
    }
    this.owner.handlers.message(message);
    return null;
  };

  HttpTransport.prototype.ended = function (controller, closeCode) {
    if (this.abort !== controller) { return; }  // replaced by a newer stream
    this.abort = null;
    this.open = false;
    if (this.closed) { return; }
    if (closeCode !== null && this.owner.handlers.final(closeCode)) { this.owner.stop(); return; }
    if (closeCode === null && !this.welcomedOnce) {
      // HTTP does not get through either: the server is away (a restart), not the websocket blocked.
      this.owner.httpFailed();
      return;
    }
    this.owner.handlers.state("offline");
    this.schedule();
  };

  HttpTransport.prototype.schedule = function () {
    var self = this;
    if (this.timer || this.closed) { return; }
    var base = Math.min(30000, 500 * Math.pow(2, this.attempt));
    this.attempt += 1;
    this.timer = setTimeout(function () { self.timer = null; self.connect(); }, base / 2 + Math.random() * base / 2);
  };

  HttpTransport.prototype.flush = function () {
    var self = this;
    if (this.sending || !this.open || this.queue.length === 0) { return; }
    this.sending = true;
    var batch = this.queue.splice(0, 50);
    fetch(this.urls.send, {
      method: "POST", cache: "no-store",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: this.token, messages: batch })
    }).then(function (response) {
      if (!response.ok) { throw new Error("send " + response.status); }
      return response.json();
    }).then(function (answer) {
      self.sending = false;
      (answer.replies || []).forEach(function (reply) { self.owner.handlers.message(reply); });
      if (answer.close && self.owner.handlers.final(answer.close)) { self.owner.stop(); return; }
      self.flush();
    }, function () {
      // Lost on the way: sets come back from the page's own unacknowledged list after the next welcome.
      self.sending = false;
      self.restart();
    });
  };

  HttpTransport.prototype.isOpen = function () { return this.open; };

  HttpTransport.prototype.restart = function () {
    if (this.abort) { var controller = this.abort; this.abort = null; controller.abort(); }
    this.open = false;
    this.queue = [];
    this.owner.handlers.state("offline");
    this.attempt = 0;
    this.schedule();
  };

  HttpTransport.prototype.reconnectNow = function () {
    if (this.open || this.abort) { return; }
    this.attempt = 0;
    this.connect();
  };

  HttpTransport.prototype.close = function () {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.abort) { var controller = this.abort; this.abort = null; controller.abort(); }
    this.open = false;
  };

  window.LiveSocket = LiveSocket;
})();
