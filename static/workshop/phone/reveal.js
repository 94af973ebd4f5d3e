/* The revealed profile on the phone: the card, the room's medians on each slider, and one
   announcement for screen readers when a new profile is shown. */
import { each } from "./page.js";
import { marker, reducedMotion } from "./sliders.js";
import { renderCompare } from "./compare.js";

export function announce(phone, message) {
  var announcer = phone.el.announce;
  announcer.textContent = "";
  setTimeout(() => { announcer.textContent = message; }, 50);
}

function fillCard(phone, reveal, current, round) {
  var byId = (id) => document.getElementById(id);
  byId("reveal-eyebrow").textContent = round === 2 ? phone.text.textRevealDesired : phone.text.textRevealNow;
  byId("reveal-name").textContent = current.profile.name;
  byId("reveal-description").textContent = current.profile.description;
  byId("reveal-assignment").textContent = current.profile.assignment;
  var before = byId("reveal-before");
  var first = reveal.rounds["1"];
  before.hidden = !(round === 2 && first && first.profile);
  if (!before.hidden) { before.textContent = phone.text.textNow + ": " + first.profile.name; }
  renderCompare(current);
}

export function renderReveal(phone, reveal, round) {
  var panel = phone.el.reveal;
  var state = phone.state;
  var current = reveal && reveal.rounds[String(round)];
  each(phone, (slider, key) => marker(slider.median, current ? current.medians[key] : null, phone.text.textMedian));
  if (!current || !current.profile) { panel.hidden = true; state.revealKey = null; return; }
  var revealKey = round + ":" + current.profile.key;
  var fresh = revealKey !== state.revealKey;
  state.revealKey = revealKey;
  panel.hidden = state.dismissed === revealKey;
  if (fresh && !panel.hidden) {
    announce(phone, phone.text.textRevealAnnounce + " " + current.profile.name);
    setTimeout(() => panel.scrollIntoView({ block: "start", behavior: reducedMotion() ? "auto" : "smooth" }), 0);
  }
  fillCard(phone, reveal, current, round);
}

export function wireReveal(phone) {
  document.getElementById("reveal-close").addEventListener("click", () => {
    phone.state.dismissed = phone.state.revealKey;
    phone.el.reveal.hidden = true;
  });
}
