/* The participant's hands on the sliders: moves stream while dragging (at most one per
   moveInterval), and every intended answer is placed: a release, a tap on the thumb where it
   stands, Enter or Space, the end of a run of keyboard steps. "Geen mening" toggles. */
import { ABSTAIN, each } from "./page.js";
import { show, usable } from "./sliders.js";
import { commit } from "./outbox.js";

/* The slider's current value, unless that is what the server holds (or what is on its way). */
function confirmWhereItStands(phone, key) {
  var slider = phone.sliders[key];
  if (!usable(phone, slider)) { return; }
  var value = Number(slider.input.value);
  var pending = phone.state.unacked[key];
  if (pending ? pending.value === value : phone.state.known[key] === value) { return; }
  commit(phone, key, value);
}

function streamMoves(phone, slider, key) {
  var sendMove = () => {
    slider.trailing = null;
    slider.lastMove = Date.now();
    if (usable(phone, slider)) { phone.socket.send({ type: "move", slider: key, value: Number(slider.input.value) }); }
  };
  slider.input.addEventListener("input", () => {
    show(phone, key, Number(slider.input.value), null);
    var wait = phone.limits.moveInterval - (Date.now() - slider.lastMove);
    if (wait <= 0) { sendMove(); } else if (!slider.trailing) { slider.trailing = setTimeout(sendMove, wait); }
  });
}

function placeOnRelease(phone, slider, key) {
  var delay = phone.limits.commitDelay;
  // Keyboard steps fire `change` on every key repeat: commit once the steps pause.
  slider.input.addEventListener("change", () => {
    clearTimeout(slider.settle);
    slider.settle = setTimeout(() => commit(phone, key, Number(slider.input.value)), delay);
  });
  // A tap or click on the thumb where it stands fires no change: place the value all the same,
  // after the change handler's own commit (if the value moved), so nothing is sent twice.
  slider.input.addEventListener("pointerup", () => {
    setTimeout(() => confirmWhereItStands(phone, key), delay + 60);
  });
  slider.input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " " || event.key === "Spacebar") {
      event.preventDefault();
      clearTimeout(slider.settle);
      confirmWhereItStands(phone, key);
    }
  });
}

/* "Geen mening" is a toggle: off again, the slider is not placed (a clear), never a value the
   participant did not choose. */
function toggleAbstain(phone, slider, key) {
  slider.abstain.addEventListener("click", () => {
    var pending = phone.state.unacked[key];
    var abstained = pending ? pending.value === ABSTAIN : phone.state.known[key] === ABSTAIN;
    commit(phone, key, abstained ? null : ABSTAIN);
  });
}

export function wireInputs(phone) {
  each(phone, (slider, key) => {
    streamMoves(phone, slider, key);
    placeOnRelease(phone, slider, key);
    toggleAbstain(phone, slider, key);
  });
  document.getElementById("sliders").addEventListener("submit", (event) => event.preventDefault());
}
