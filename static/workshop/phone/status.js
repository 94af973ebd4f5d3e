/* The connection line, and the two ways the page stops: the session ended, or this phone was not
   let in (room locked or full). */
import { each } from "./page.js";
import { showMessage } from "./notice.js";
import { stopTimer } from "./timer.js";
import { showKeptResult } from "./kept-result.js";

export function setConnection(phone, name) {
  var line = phone.el.connection;
  var text = phone.text;
  line.dataset.state = name;
  line.textContent = {
    connecting: text.textConnecting, connected: text.textConnected, offline: text.textOffline, ended: text.textEnded,
    refused: "",
  }[name];
  // Once the session has ended the connection no longer matters: the phase line says it has closed.
  line.hidden = name === "refused" || name === "ended";
}

export function ended(phone) {
  setConnection(phone, "ended");
  phone.el.phase.textContent = phone.text.textEnded;
  stopTimer(phone);
  phone.state.reset = {};
  showMessage(phone, "");
  each(phone, (slider) => {
    slider.input.disabled = true;
    slider.abstain.disabled = true;
    slider.extra.hidden = true;
  });
  phone.el.groupPicker.hidden = true;
  if (showKeptResult()) { phone.el.reveal.hidden = true; }
}

/* Let in after all (the room reopened, a place came free): the page as for any phone. */
export function admitted(phone) {
  phone.root.classList.remove("refused");
}

/* Not let in: one clear message, and no sliders that cannot move. */
export function refused(phone, message) {
  phone.root.classList.add("refused");
  showMessage(phone, message, "refused");
  setConnection(phone, "refused");
  each(phone, (slider) => { slider.input.disabled = true; });
}
