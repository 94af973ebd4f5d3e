/* The HTTP transport, while websockets do not get through: `hello` opens a stream of server-sent
   events (read with fetch, so that the token travels in the body, never in a URL); every other
   message is POSTed, batched while a request is out, and the replies come back in the response.
   Its owner is the LiveSocket (live/socket.js): its handlers, timings and fallback state. */
import { jittered } from "./backoff.js";

export class HttpTransport {
  constructor(urls, owner) {
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

  connect() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.closed) { return; }
    this.owner.handlers.state("connecting");
    // The page answers `open` with its hello, which starts the stream (see send).
    this.owner.handlers.open(this);
  }

  send(message) {
    if (this.closed) { return false; }
    if (message.type === "hello") { this.stream(message); return true; }
    if (!this.open) { return false; }
    if (message.type === "move") {
      // Only the newest position of a slider matters while it is still waiting to go.
      this.queue = this.queue.filter((queued) => !(queued.type === "move" && queued.slider === message.slider));
    }
    this.queue.push(message);
    this.flush();
    return true;
  }

  stream(hello) {
    if (this.abort) { this.abort.abort(); }
    var controller = new AbortController();
    this.abort = controller;
    this.open = false;
    fetch(this.urls.stream, {
      method: "POST", body: JSON.stringify(hello), cache: "no-store", signal: controller.signal,
      headers: { "Content-Type": "application/json", "Accept": "text/event-stream" },
    }).then((response) => {
      // Too many streams from this network (the server's or nginx's limit): say so, and try again later.
      if (response.status === 429) { return response.json().then((refusal) => this.refused(controller, refusal)); }
      if (!response.ok || !response.body) { throw new Error("stream " + response.status); }
      return this.read(response.body.getReader());
    }).then(
      (closeCode) => this.ended(controller, closeCode),
      () => this.ended(controller, null),
    );
  }

  /* Reads events until the stream ends (null) or says the conversation is over (its close code). */
  read(reader) {
    var decoder = new TextDecoder();
    var buffer = "";
    var pump = () => reader.read().then((chunk) => {
      if (chunk.done) { return null; }
      buffer += decoder.decode(chunk.value, { stream: true });
      var end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        var block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (block.indexOf("data: ") === 0) {
          var closeCode = this.receive(JSON.parse(block.slice(6)));
          if (closeCode !== null) { return closeCode; }
        }
      }
      return pump();
    });
    return pump();
  }

  /* One message from the server; returns a close code when the stream says the conversation is over. */
  receive(message) {
    if (message.type === "close") { return message.code; }
    if (message.type === "welcome") {
      this.token = message.token;
      this.open = true;
      this.welcomedOnce = true;
      this.attempt = 0;
    }
    this.owner.handlers.message(message);
    return null;
  }

  /* A stream refused before it started: the page shows the error, and the stream is tried again with backoff. */
  refused(controller, refusal) {
    if (this.abort !== controller || this.closed) { return undefined; }
    this.abort = null;
    this.open = false;
    this.owner.handlers.message(refusal);
    this.owner.handlers.state("offline");
    this.schedule();
    return undefined;
  }

  ended(controller, closeCode) {
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
  }

  schedule() {
    if (this.timer || this.closed) { return; }
    var delay = jittered(this.owner.options.backoffFirst, this.owner.options.backoffMax, this.attempt);
    this.attempt += 1;
    this.timer = setTimeout(() => { this.timer = null; this.connect(); }, delay);
  }

  flush() {
    if (this.sending || !this.open || this.queue.length === 0) { return; }
    this.sending = true;
    var batch = this.queue.splice(0, this.owner.options.batchSize);
    fetch(this.urls.send, {
      method: "POST", cache: "no-store",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: this.token, messages: batch }),
    }).then((response) => {
      if (!response.ok) { throw new Error("send " + response.status); }
      return response.json();
    }).then((answer) => {
      this.sending = false;
      (answer.replies || []).forEach((reply) => this.owner.handlers.message(reply));
      if (answer.close && this.owner.handlers.final(answer.close)) { this.owner.stop(); return; }
      this.flush();
    }, () => {
      // Lost on the way: sets come back from the page's own unacknowledged list after the next welcome.
      this.sending = false;
      this.restart();
    });
  }

  isOpen() { return this.open; }

  restart() {
    this.cancel();
    this.queue = [];
    this.owner.handlers.state("offline");
    this.attempt = 0;
    this.schedule();
  }

  reconnectNow() {
    if (this.open || this.abort) { return; }
    this.attempt = 0;
    this.connect();
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    this.cancel();
  }

  cancel() {
    if (this.abort) { var controller = this.abort; this.abort = null; controller.abort(); }
    this.open = false;
  }
}
