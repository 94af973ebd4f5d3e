/* Answers on their way to the server: a set (a number), "geen mening" (ABSTAIN) or a clear (null:
   "geen mening" turned off, the slider back to not placed). Each has a sequence number, waits in
   the unacknowledged store until the server's `ack`, and goes again after a reconnect or reload. */
import { ABSTAIN } from "./page.js";
import { save, nextSeq } from "./store.js";
import { show, showPlaced } from "./sliders.js";
import { forgetReset } from "./notice.js";

function send(phone, key, entry) {
  if (entry.value === ABSTAIN) {
    phone.socket.send({ type: "abstain", slider: key, seq: entry.seq });
  } else if (entry.value === null) {
    phone.socket.send({ type: "clear", slider: key, seq: entry.seq });
  } else {
    phone.socket.send({ type: "set", slider: key, value: entry.value, seq: entry.seq });
  }
}

export function commit(phone, key, value) {
  var state = phone.state;
  var slider = phone.sliders[key];
  clearTimeout(slider.trailing);
  slider.trailing = null;
  var entry = { seq: nextSeq(phone), value: value, round: state.session ? state.session.round : 1 };
  state.unacked[key] = entry;
  save(phone);
  show(phone, key, value, phone.text.textSaving);
  if (value !== null) { forgetReset(phone, key); }
  if (state.welcomed) { send(phone, key, entry); }
}

/* What the server has not acknowledged yet goes again, in order. */
export function resendUnacked(phone) {
  var unacked = phone.state.unacked;
  Object.keys(unacked).forEach((key) => send(phone, key, unacked[key]));
}

export function acknowledged(phone, seq) {
  var state = phone.state;
  Object.keys(state.unacked).forEach((key) => {
    var entry = state.unacked[key];
    if (entry.seq !== seq) { return; }
    delete state.unacked[key];
    state.known[key] = entry.value;
    var text = phone.text;
    show(phone, key, undefined, entry.value === null ? text.textUnset : (entry.value === ABSTAIN ? text.textAbstained : text.textSaved));
  });
  save(phone);
  showPlaced(phone);
}

/* The slider whose answer the server refused (error with its seq), or null; a refused answer is
   dropped, one the server could not store now is kept and tried again. */
export function refusedAnswer(phone, error) {
  var unacked = phone.state.unacked;
  var key = Object.keys(unacked).filter((k) => unacked[k].seq === error.seq)[0] || null;
  if (key && error.code !== "not_stored") { delete unacked[key]; save(phone); }
  if (key && error.code === "not_stored") { retryLater(phone); }
  return key;
}

var retryTimer = null;
function retryLater(phone) {
  if (retryTimer) { return; }
  var delay = phone.limits.retryDelay;
  retryTimer = setTimeout(() => {
    retryTimer = null;
    if (phone.state.welcomed) { resendUnacked(phone); }
  }, delay + Math.random() * delay);
}
