/* The phone: five range inputs streaming `move` while dragging and placing an answer on release,
   following the facilitator's phases and rounds as the server states them. The modules beside
   this one: page (texts, constants, elements), render (the server's state), input (the hands),
   outbox (answers until acknowledged), connection (the socket and its heartbeat), kept-result
   (the result after closing). ES2017 with modules, for Safari 15; no build step. */
import { readPage } from "./page.js";
import { wireInputs } from "./input.js";
import { wireReveal } from "./reveal.js";
import { connect } from "./connection.js";
import { showKeptResult } from "./kept-result.js";

var root = document.getElementById("participant");
if (root) {
  var phone = readPage(root);
  showKeptResult();
  wireInputs(phone);
  wireReveal(phone);
  connect(phone);
}
