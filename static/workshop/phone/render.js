/* A `welcome` or `state` from the server, rendered: the phase, which sliders may move and why not,
   this phone's positions, the timer, the group picker and the reveal. Nothing here decides a rule
   of the session; the server's message says it (participation.phone_state). */
import { save } from "./store.js";
import { show, statusText, marker, applyOpen, showPlaced, reducedMotion } from "./sliders.js";
import { renderNotice } from "./notice.js";
import { startTimer } from "./timer.js";
import { renderReveal, announce } from "./reveal.js";
import { keepFinal } from "./kept-result.js";
import { ended } from "./status.js";

/* The server says time is up: its timer ran out with a lock, or a slider is locked for that reason. */
function timeUp(message) {
  var timer = message.timer;
  return !!(timer && timer.expired && timer.locks) || message.sliders.some((slider) => slider.reason === "time_up");
}

function phaseText(phone, message) {
  var text = phone.text;
  var stage = message.session.stage;
  if (stage === "lobby") { return text.textLobby; }
  if (stage === "discussing" || stage === "revealed") { return text.textDiscussion; }
  if (stage === "closed") { return text.textEnded; }
  if (timeUp(message)) { return text.textTimeUpLocked; }
  return message.session.round === 2 ? text.textRound2 : text.textRound1;
}

function takeSession(phone, message) {
  var state = phone.state;
  state.session = message.session;
  state.groups = message.groups || [];
  state.group = message.group === undefined ? null : message.group;
  state.mayChooseGroup = !!message.may_choose_group;
  state.timer = message.timer;
  message.sliders.forEach((s) => {
    var slider = phone.sliders[s.key];
    if (slider) { slider.open = s.open; slider.reason = s.open ? null : s.reason; }
  });
  // A set from an earlier round is not sent into this one.
  Object.keys(state.unacked).forEach((key) => {
    if (state.unacked[key].round !== message.session.round) { delete state.unacked[key]; }
  });
}

/* One slider's position as the server holds it. */
function takePosition(phone, message, key) {
  var state = phone.state;
  var pending = state.unacked[key];
  var now = message.positions[key];
  state.known[key] = now;
  var value = pending ? pending.value : now;
  var previous = message.previous ? message.previous[key] : null;
  show(phone, key, value, statusText(phone, value, !!pending, previous));
  // Round 2 starts where this phone stood in round 1: one tap keeps it.
  if (value === null) { phone.sliders[key].input.value = typeof previous === "number" ? previous : 50; }
  marker(phone.sliders[key].ghost, previous, phone.text.textGhost);
}

function takePositions(phone, message) {
  Object.keys(message.positions).forEach((key) => {
    if (phone.sliders[key]) { takePosition(phone, message, key); }
  });
}

/* The phone's own group, in a line of its own: it stays when the groups are locked and the picker goes. */
function renderMyGroup(phone) {
  var state = phone.state;
  var mine = state.groups.find((group) => group.id === state.group);
  var line = phone.el.myGroup;
  var before = line.hidden ? "" : line.textContent;
  line.hidden = !mine;
  line.textContent = mine ? phone.text.textMyGroup.replace("{name}", mine.name) : "";
  // A change of group (this phone's own tap) is said once; the first render is not a change.
  if (mine && before && before !== line.textContent) { announce(phone, line.textContent); }
}

/* Groups added while this phone has none: its sliders wait, so the picker comes into view and is said,
   wherever the phone was scrolled to. Once for each set of groups, never while the phone has a group. */
function bringPickerIntoView(phone) {
  var state = phone.state;
  var waiting = phone.el.groupPicker.hidden || state.group !== null ? "" : state.groups.map((g) => g.id).join(",");
  if (waiting && waiting !== state.pickerFor && state.welcomed) {
    var picker = phone.el.groupPicker;
    setTimeout(() => {
      picker.scrollIntoView({ block: "start", behavior: reducedMotion() ? "auto" : "smooth" });
      picker.focus({ preventScroll: true });
    }, 0);
    announce(phone, phone.text.textGroupRequired);
  }
  state.pickerFor = waiting;
}

function renderGroups(phone) {
  renderMyGroup(phone);
  var picker = phone.el.groupPicker;
  picker.hidden = !phone.state.mayChooseGroup;
  bringPickerIntoView(phone);
  if (picker.hidden) { return; }
  var holder = phone.el.groupButtons;
  holder.textContent = "";
  phone.state.groups.forEach((group) => {
    var button = document.createElement("button");
    var chosen = group.id === phone.state.group;
    button.type = "button";
    // Until the facilitator locks the groups, a phone may change its group: its own shows as chosen.
    button.className = chosen ? "button primary" : "button";
    button.setAttribute("aria-pressed", chosen ? "true" : "false");
    button.textContent = group.name;
    button.addEventListener("click", () => phone.socket.send({ type: "group", group: group.id }));
    holder.appendChild(button);
  });
}

export function render(phone, message) {
  takeSession(phone, message);
  takePositions(phone, message);
  // Which sliders the facilitator cleared is the server's to say (docs/protocol.md, `reset`).
  phone.state.reset = Object.fromEntries((message.reset || []).map((key) => [key, true]));
  phone.el.phase.textContent = phaseText(phone, message);
  showPlaced(phone);
  startTimer(phone, message.timer);
  renderGroups(phone);
  renderReveal(phone, message.reveal, message.session.round);
  applyOpen(phone);
  renderNotice(phone);
  save(phone);
  if (message.session.stage === "closed") { keepFinal(phone, message); ended(phone); }
}

