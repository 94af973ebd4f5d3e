/* The notice under the phase line: which sliders the facilitator cleared (the server's `reset`; this
   page only hides a slider's line at once when it is placed again), or an error that concerns no slider.
   Its kind (app.css: colour and icon) says what it is: "warning" (something to do or to know) or
   "refused" (this phone is not let in). */
import { sliderName } from "./page.js";

export function renderNotice(phone) {
  var state = phone.state;
  var reset = Object.keys(state.reset).filter((key) => phone.sliders[key]);
  var lines = [];
  if (reset.length) {
    lines.push(reset.map((key) => sliderName(phone.sliders[key])).join(", ") + ": " + phone.text.textReset);
  }
  if (state.message) { lines.push(state.message); }
  phone.el.notice.dataset.kind = state.message && state.messageKind ? state.messageKind : "warning";
  phone.el.notice.textContent = lines.join(" ");
  phone.el.notice.hidden = lines.length === 0;
}

export function showMessage(phone, message, kind) {
  phone.state.message = message || "";
  phone.state.messageKind = kind || "warning";
  renderNotice(phone);
}

/* The slider was placed again (or can no longer be): its reset notice goes. */
export function forgetReset(phone, key) {
  if (!phone.state.reset[key]) { return; }
  delete phone.state.reset[key];
  renderNotice(phone);
}
