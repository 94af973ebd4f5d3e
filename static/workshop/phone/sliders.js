/* One slider on the screen: its value, its status line, and whether it can be moved. Whether it
   can is the server's decision (`open`, and `reason` when not); the phone only renders it. */
import { ABSTAIN, each } from "./page.js";

function describe(phone, slider, value) {
  var text = phone.text;
  if (value === null || value === undefined) { return text.textUnset; }
  if (value === ABSTAIN) { return text.textAbstained; }
  if (value === 50) { return value + ", " + text.textMiddle; }
  return value + ", " + text.textTowards + " " + (value < 50 ? slider.left : slider.right);
}

/* value: a number, ABSTAIN, null (not placed) or undefined (leave as it is). */
export function show(phone, key, value, status) {
  var slider = phone.sliders[key];
  if (!slider) { return; }
  if (value !== undefined) {
    slider.box.classList.toggle("unset", value === null || value === ABSTAIN);
    slider.box.classList.toggle("abstained", value === ABSTAIN);
    slider.abstain.setAttribute("aria-pressed", value === ABSTAIN ? "true" : "false");
    if (typeof value === "number") { slider.input.value = value; }
    slider.input.setAttribute("aria-valuetext", describe(phone, slider, value));
  }
  if (status) { slider.status.textContent = status; }
  var known = phone.state.known[key];
  slider.box.classList.toggle("saved", known !== null && known !== undefined && !phone.state.unacked[key]);
}

/* The status line for what the server holds (or what is on its way to it). */
export function statusText(phone, value, pending, previous) {
  var text = phone.text;
  if (value === null) { return typeof previous === "number" ? text.textConfirmRound1 : text.textUnset; }
  if (pending) { return text.textSaving; }
  return value === ABSTAIN ? text.textAbstained : text.textSaved;
}

export function marker(element, value, label) {
  // A tooltip never shows on a touchscreen: the room's median is said in words under the slider too.
  var legend = element.classList.contains("median") && element.closest(".slider").querySelector(".median-legend");
  if (typeof value !== "number") {
    element.hidden = true;
    if (legend) { legend.hidden = true; }
    return;
  }
  element.hidden = false;
  element.style.setProperty("--pos", value);
  element.setAttribute("title", label + ": " + value);
  if (legend) {
    legend.hidden = false;
    legend.textContent = label + ": " + String(value).replace(".", document.documentElement.lang === "nl" ? "," : ".");
  }
}

export function usable(phone, slider) {
  return phone.state.welcomed && slider.open;
}

// Why a slider cannot be moved, in its own line. "time_up" is said once, in the phase line, for
// every slider at once; "closed" by the page as a whole (status.js ended).
var LOCKED_LINE = { not_open: "textLocked", choose_group: "textGroupRequired" };

export function positioning(phone) {
  var stage = phone.state.session ? phone.state.session.stage : "lobby";
  return stage === "open" || stage === "locked";
}

export function applyOpen(phone) {
  var during = positioning(phone) && phone.state.welcomed;
  // One slider at a time: the others fold to a line; one waiting for a group stays in view.
  var available = Object.keys(phone.sliders).filter((key) => {
    var slider = phone.sliders[key];
    return slider.open || slider.reason === "choose_group";
  });
  each(phone, (slider, key) => {
    var can = usable(phone, slider);
    slider.input.disabled = !can;
    slider.abstain.disabled = !can;
    var line = !can && during ? phone.text[LOCKED_LINE[slider.reason]] : undefined;
    slider.extra.hidden = !line;
    slider.extra.textContent = line || "";
    slider.box.classList.toggle("folded", positioning(phone) && available.length > 0 && available.indexOf(key) < 0);
  });
  bringIntoView(phone, positioning(phone) && available.length === 1 ? available[0] : null);
}

export function reducedMotion() {
  return window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
}

function bringIntoView(phone, focus) {
  if (focus && focus !== phone.state.openKey && phone.state.welcomed) {
    var box = phone.sliders[focus].box;
    setTimeout(() => box.scrollIntoView({ block: "center", behavior: reducedMotion() ? "auto" : "smooth" }), 0);
  }
  phone.state.openKey = focus;
}

export function showPlaced(phone) {
  var keys = Object.keys(phone.sliders);
  var known = phone.state.known;
  var placed = keys.filter((key) => known[key] !== null && known[key] !== undefined).length;
  var line = phone.el.placed;
  line.hidden = !positioning(phone);
  line.textContent = phone.text.textPlaced.replace("{placed}", placed).replace("{total}", keys.length);
  line.classList.toggle("done", placed === keys.length);
}
