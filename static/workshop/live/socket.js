/* A websocket that reconnects by itself: backoff with jitter, and at once when the browser
   comes back online or the page becomes visible again.

   With options.fallback ({stream, send}: the phone's two HTTP endpoints), a socket that cannot
   open, or keeps dying within seconds, is replaced by plain HTTP (live/http-transport.js): the
   same JSON messages POSTed, the server's messages read from a stream of server-sent events.
   Now and then (a backoff up to options.probeMax) it tries the websocket again and returns to
   it when it opens. Every timing comes from the page (live/constants.js socketTimings). */
import { jittered } from "./backoff.js";
import { HttpTransport } from "./http-transport.js";

export class LiveSocket {
  /* handlers: state(name), open(transport), message(message), final(closeCode) -> true to stop. */
  constructor(path, handlers, options) {
    this.path = path;
    this.handlers = handlers;
    this.options = options;
    this.fallback = options.fallback || null;
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.stopped = false;
    this.http = null;          // the HTTP transport while the socket is out of reach
    this.failures = 0;         // socket attempts that failed since the last good one
    this.fallbackTimer = null;
    this.probeTimer = null;
    this.probeAttempt = 0;
    window.addEventListener("online", () => this.reconnectNow());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") { this.reconnectNow(); }
    });
    this.connect();
  }

  url() {
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    return scheme + window.location.host + this.path;
  }

  connect() {
    if (this.stopped) { return; }
    clearTimeout(this.timer);
    this.timer = null;
    if (this.http) { this.http.connect(); return; }
    var ws = new WebSocket(this.url());
    this.ws = ws;
    this.handlers.state("connecting");
    var opened = { at: null };
    var openTimer = this.fallback ? setTimeout(() => this.neverOpened(ws, opened), this.options.openTimeout) : null;
    ws.onopen = () => {
      clearTimeout(openTimer);
      opened.at = Date.now();
      this.attempt = 0;
      this.handlers.open(ws);
    };
    ws.onmessage = (event) => {
      var message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      if (opened.at !== null && Date.now() - opened.at > this.options.shortLived) { this.good(); }
      this.handlers.message(message);
    };
    ws.onclose = (event) => {
      clearTimeout(openTimer);
      this.closed(ws, event.code, opened.at);
    };
  }

  /* A proxy that swallows the upgrade leaves the socket connecting for ever: that is a failure too. */
  neverOpened(ws, opened) {
    if (this.ws !== ws || opened.at !== null) { return; }
    ws.onclose = null;
    try { ws.close(); } catch (e) { /* closing */ }
    this.ws = null;
    this.failed();
  }

  closed(ws, closeCode, openedAt) {
    if (this.ws !== ws) { return; }
    this.ws = null;
    if (this.handlers.final(closeCode)) {
      this.stop();
      return;
    }
    // Never opened, or died within seconds: the network may be blocking websockets.
    if (openedAt === null || Date.now() - openedAt < this.options.shortLived) { this.failed(); return; }
    this.handlers.state("offline");
    this.schedule();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.fallbackTimer);
    clearTimeout(this.probeTimer);
    if (this.http) { this.http.close(); }
  }

  /* Start again after a final close (a phone refused at the door asks again later). */
  resume() {
    if (!this.stopped) { return; }
    this.stopped = false;
    this.attempt = 0;
    this.connect();
  }

  good() {
    this.failures = 0;
    clearTimeout(this.fallbackTimer);
    this.fallbackTimer = null;
  }

  failed() {
    this.handlers.state("offline");
    if (!this.fallback) { this.schedule(); return; }
    this.failures += 1;
    if (this.failures >= 2) { this.useHttp(); return; }
    // One failure more, or no socket open in a moment: carry on over HTTP.
    this.fallbackTimer = setTimeout(() => { if (!this.isOpen()) { this.useHttp(); } }, this.options.fallbackAfter);
    this.schedule();
  }

  /* Carry on over HTTP, and try the websocket again now and then. */
  useHttp() {
    if (this.http || this.stopped) { return; }
    clearTimeout(this.timer);
    clearTimeout(this.fallbackTimer);
    this.timer = null;
    this.http = new HttpTransport(this.fallback, this);
    this.probeAttempt = 0;
    this.scheduleProbe();
    this.http.connect();
  }

  /* HTTP failed before it ever worked: back to the websocket and its backoff. */
  httpFailed() {
    if (!this.http) { return; }
    this.http.close();
    this.http = null;
    clearTimeout(this.probeTimer);
    this.failures = 0;
    this.handlers.state("offline");
    this.schedule();
  }

  scheduleProbe() {
    var delay = jittered(this.options.probeFirst, this.options.probeMax, this.probeAttempt);
    this.probeAttempt += 1;
    this.probeTimer = setTimeout(() => this.probe(), delay);
  }

  probe() {
    if (!this.http || this.stopped) { return; }
    var ws = new WebSocket(this.url());
    var done = false;
    var finish = () => {
      if (done) { return false; }
      done = true;
      clearTimeout(giveUp);
      return true;
    };
    var giveUp = setTimeout(() => {
      if (!finish()) { return; }
      ws.onclose = null;
      try { ws.close(); } catch (e) { /* closing */ }
      this.scheduleProbe();
    }, this.options.openTimeout);
    ws.onopen = () => { if (finish()) { ws.close(); this.backToSocket(); } };
    ws.onclose = () => { if (finish()) { this.scheduleProbe(); } };
  }

  /* The websocket works again: leave HTTP and say hello over the socket. */
  backToSocket() {
    this.http.close();
    this.http = null;
    this.failures = 0;
    this.attempt = 0;
    this.connect();
  }

  schedule() {
    if (this.timer || this.stopped) { return; }
    var delay = jittered(this.options.backoffFirst, this.options.backoffMax, this.attempt);
    this.attempt += 1;
    this.timer = setTimeout(() => { this.timer = null; this.connect(); }, delay);
  }

  reconnectNow() {
    if (this.stopped) { return; }
    if (this.http) { this.http.reconnectNow(); return; }
    if (this.ws && (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING)) { return; }
    this.attempt = 0;
    this.connect();
  }

  /* A connection that stopped answering (no pong in time): drop it and try again soon. */
  restart() {
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
  }

  send(message) {
    if (this.http) { return this.http.send(message); }
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(message));
      return true;
    }
    return false;
  }

  isOpen() {
    if (this.http) { return this.http.isOpen(); }
    return !!(this.ws && this.ws.readyState === WebSocket.OPEN);
  }
}
