/* The phone's conversation with the server: hello with its token, the server's welcome, state,
   ack and error, and a heartbeat. A dead connection often looks open: while visible the phone
   pings every pingInterval, and when nothing (no pong, no ack) has come back for silenceLimit the
   connection counts as gone; it is dropped and reconnected, and what is unacknowledged goes again
   after the welcome. */
import { LiveSocket } from "../live/socket.js";
import { jittered } from "../live/backoff.js";
import { show } from "./sliders.js";
import { render } from "./render.js";
import { showMessage } from "./notice.js";
import { setConnection, ended, refused, admitted } from "./status.js";
import { resendUnacked, acknowledged, refusedAnswer } from "./outbox.js";

function explain(phone, error, key) {
  var text = phone.text;
  var slider = key && phone.sliders[key];
  return {
    slider_locked: slider && slider.reason === "time_up" ? text.textTimeUpLocked : text.textLocked,
    room_locked: text.textRoomLocked, room_full: text.textRoomFull,
    too_many_streams: text.textTooManyStreams, replaced: text.textReplaced,
    group_required: text.textGroupRequired, groups_locked: text.textGroupsLocked, not_stored: text.textSaving,
  }[error.code] || error.message;
}

function onError(phone, error) {
  var key = refusedAnswer(phone, error);
  var explained = explain(phone, error, key);
  if (key) { show(phone, key, undefined, explained); } else { showMessage(phone, explained); }
  // "replaced": over HTTP a newer stream of this phone (another tab) took over; the close that follows is final.
  if (error.code === "room_locked" || error.code === "room_full" || error.code === "replaced") { refused(phone, explained); }
}

function onMessage(phone, message) {
  if (message.type === "welcome") {
    phone.state.token = message.token;
    phone.state.welcomed = true;
    admitted(phone);
    showMessage(phone, "");
    render(phone, message);
    resendUnacked(phone);
    setConnection(phone, "connected");
  } else if (message.type === "state") {
    render(phone, message);
  } else if (message.type === "ack") {
    acknowledged(phone, message.seq);
  } else if (message.type === "error") {
    onError(phone, message);
  }
}

function sayHello(phone) {
  phone.state.welcomed = false;
  var hello = { type: "hello", token: phone.state.token };
  if (phone.root.dataset.group) { hello.group = Number(phone.root.dataset.group); }
  phone.socket.send(hello);
}

function heartbeat(phone) {
  var limits = phone.limits;
  var lastHeard = Date.now();
  var lastPing = 0;
  setInterval(() => {
    var socket = phone.socket;
    // An open socket that stays silent (no welcome after hello, no pong after pings) is dropped.
    if (document.visibilityState !== "visible" || !socket.isOpen()) { lastHeard = Date.now(); return; }
    if (Date.now() - lastHeard > limits.silenceLimit) { socket.restart(); return; }
    if (phone.state.welcomed && Date.now() - lastPing >= limits.pingInterval) { lastPing = Date.now(); socket.send({ type: "ping" }); }
  }, Math.min(500, limits.pingInterval / 4));
  return () => { lastHeard = Date.now(); };
}

/* A phone refused because the room was locked or full asks again now and then, by itself: when the
   facilitator reopens the room (or a place comes free) it is let in without a reload. Every few seconds,
   with jitter, so that a hall of refused phones does not knock at once; each knock costs the server one
   cached read (runtime's shared sessions). */
function retryRefused(phone) {
  var attempt = phone.state.refusedAttempts || 0;
  phone.state.refusedAttempts = attempt + 1;
  var delay = jittered(phone.limits.refusedRetryFirst, phone.limits.refusedRetryMax, attempt);
  setTimeout(() => { phone.socket.resume(); }, delay);
}

export function connect(phone) {
  var heard = heartbeat(phone);
  var code = phone.code;
  var options = Object.assign({}, phone.limits.socket, {
    // Where the venue's network blocks websockets, the same messages go over plain HTTP.
    fallback: { stream: "/p/" + code + "/stream/", send: "/p/" + code + "/send/" },
  });
  phone.socket = new LiveSocket("/ws/p/" + code + "/", {
    // Once offline, the phone says so until it is welcomed back, through every attempt in between.
    state: (name) => {
      // A refused phone knocking again says nothing until it is let in; an offline one stays offline till then.
      if (phone.root.classList.contains("refused")) { return; }
      if (!(name === "connecting" && phone.el.connection.dataset.state === "offline")) { setConnection(phone, name); }
    },
    open: () => { heard(); sayHello(phone); },
    final: (closeCode) => {
      if (closeCode === phone.limits.closeNotFound) { ended(phone); return true; }
      if (closeCode === phone.limits.closeRefused) { setConnection(phone, "refused"); retryRefused(phone); return true; }
      return false;
    },
    message: (message) => {
      heard();
      if (message.type === "welcome") { phone.state.refusedAttempts = 0; }
      onMessage(phone, message);
    },
  }, options);
  return phone.socket;
}
