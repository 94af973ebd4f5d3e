/* A closed session's result as this phone kept it: the profile, its assignment, its own positions
   beside the room's medians, and a form for a PDF of it. Kept when the session closes, shown then
   and on the "not open" page after a reload (ended.js). The server no longer knows which phone was
   whose, so the form carries the ticket it gave this phone when it closed (the phone's own positions,
   signed by the server; docs/protocol.md, `result_ticket`); it never carries the token. */
import { sliderName } from "./page.js";

function finalKey(code) {
  return "schuifoefening:" + code + ":final";
}

/* message: the closing state; phone.state.known: this phone's positions in its last round. */
export function keepFinal(phone, message) {
  var round = String(message.session.round);
  var current = message.reveal && message.reveal.rounds[round];
  if (!current || !current.profile) { return; }
  // This phone's own positions per round: the server forgets which phone was whose when it closes.
  var own = {};
  own[round] = phone.state.known;
  if (message.previous) { own["1"] = message.previous; }
  var rows = Object.keys(phone.sliders).map((key) => ({
    key: key, label: sliderName(phone.sliders[key]), own: phone.state.known[key], median: current.medians[key],
  }));
  try {
    window.localStorage.setItem(finalKey(phone.code), JSON.stringify({
      profile: current.profile, rows: rows, own: own, ticket: message.result_ticket || null,
    }));
  } catch (e) { /* private mode: the PDF still has it */ }
}

function fillRows(body, rows) {
  body.textContent = "";
  rows.forEach((row) => {
    var tr = document.createElement("tr");
    var own = typeof row.own === "number" ? row.own : "–";
    var median = typeof row.median === "number" ? row.median.toLocaleString(document.documentElement.lang) : "–";
    [row.label, own, median].forEach((value, i) => {
      var cell = document.createElement(i === 0 ? "th" : "td");
      if (i === 0) { cell.scope = "row"; }
      cell.textContent = value;
      tr.appendChild(cell);
    });
    body.appendChild(tr);
  });
}

/* The form's one field, the ticket: what the PDF is made from. Without one (kept before tickets) no form. */
function fillValues(holder, ticket) {
  holder.textContent = "";
  holder.closest("form").hidden = !ticket;
  if (!ticket) { return; }
  var input = document.createElement("input");
  input.type = "hidden";
  input.name = "ticket";
  input.value = ticket;
  holder.appendChild(input);
}

/* Shows the kept result if this page has its card and this phone kept one; says whether it did. */
export function showKeptResult() {
  var root = document.getElementById("kept-result");
  if (!root) { return false; }
  var final;
  try { final = JSON.parse(window.localStorage.getItem(finalKey(root.dataset.code))); } catch (e) { return false; }
  if (!final || !final.profile) { return false; }
  document.getElementById("kept-name").textContent = final.profile.name;
  document.getElementById("kept-description").textContent = final.profile.description;
  document.getElementById("kept-assignment").textContent = final.profile.assignment;
  fillRows(document.getElementById("kept-rows"), final.rows);
  fillValues(document.getElementById("kept-values"), final.ticket);
  root.hidden = false;
  return true;
}
