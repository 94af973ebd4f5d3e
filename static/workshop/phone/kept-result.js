/* A closed session's result as this phone kept it: where the room ended up (its profile and
   assignment), this phone's own positions in every round beside the room's medians, and a form for
   a PDF of it. Kept when the session closes, shown then and on the "not open" page after a reload
   (ended.js). The server no longer knows which phone was whose, so the form carries the ticket it gave
   this phone when it closed (its own positions, signed by the server; docs/protocol.md, `result_ticket`);
   it never carries the token. What is kept are keys and numbers; the words come from the
   page (#kept-texts), so that a phone that switches language reads the result in the new one. */
import { sliderName } from "./page.js";

function finalKey(code) {
  return "schuifoefening:" + code + ":final";
}

/* message: the closing state; phone.state.known: this phone's positions in its last round. */
export function keepFinal(phone, message) {
  var round = String(message.session.round);
  var rooms = (message.reveal && message.reveal.rounds) || {};
  var current = rooms[round];
  if (!current || !current.profile) { return; }
  // This phone's own positions per round: the server forgets which phone was whose when it closes.
  var own = {};
  own[round] = phone.state.known;
  if (message.previous) { own["1"] = message.previous; }
  var rounds = {};
  Object.keys(rooms).forEach((number) => {
    rounds[number] = { medians: rooms[number].medians || {}, profile: rooms[number].profile || null };
  });
  var sliders = Object.keys(phone.sliders).map((key) => ({ key: key, label: sliderName(phone.sliders[key]) }));
  var kept = {
    version: 2, round: round, profile: current.profile, rounds: rounds, own: own, sliders: sliders,
    ticket: message.result_ticket || null,
  };
  try {
    window.localStorage.setItem(finalKey(phone.code), JSON.stringify(kept));
  } catch (e) { /* private mode: the PDF still has it */ }
}

/* The exercise's words in the page's language, by key (absent on a page that has none). */
function pageTexts() {
  var texts = { sliders: {}, profiles: {} };
  var holder = document.getElementById("kept-texts");
  if (!holder) { return texts; }
  Array.prototype.forEach.call(holder.querySelectorAll("[data-slider]"), (item) => {
    texts.sliders[item.dataset.slider] = item.textContent;
  });
  Array.prototype.forEach.call(holder.querySelectorAll("[data-profile]"), (item) => {
    texts.profiles[item.dataset.profile] = {
      name: item.dataset.name, description: item.dataset.description, assignment: item.dataset.assignment,
    };
  });
  return texts;
}

function ownText(root, value, placed) {
  if (typeof value === "number") { return String(value); }
  if (value === "abstain") { return root.dataset.textAbstain; }
  return placed ? root.dataset.textAbstain : root.dataset.textNotPlaced;
}

function medianText(value) {
  return typeof value === "number" ? value.toLocaleString(document.documentElement.lang) : "\u2013";
}

function fillRows(body, rows) {
  body.textContent = "";
  rows.forEach((row) => {
    var tr = document.createElement("tr");
    [row.label, row.own, row.median].forEach((value, i) => {
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

/* Per round: its caption and rows (slider, this phone's position in words where it is no number, the
   room's median). A result kept by an older page (rows of round 2 only) still shows as it was kept. */
function roundTables(root, kept, texts) {
  if (!kept.rounds) {
    return [{ caption: "", rows: (kept.rows || []).map((row) => ({
      label: row.label, own: ownText(root, row.own, row.own !== undefined && row.own !== null), median: medianText(row.median),
    })) }];
  }
  return Object.keys(kept.rounds).sort().map((number) => {
    var mine = (kept.own || {})[number] || {};
    return {
      caption: number === "1" ? root.dataset.textRound1 : root.dataset.textRound2,
      rows: kept.sliders.map((slider) => ({
        label: texts.sliders[slider.key] || slider.label,
        own: ownText(root, mine[slider.key], slider.key in mine && mine[slider.key] !== null),
        median: medianText(kept.rounds[number].medians[slider.key]),
      })),
    };
  });
}

/* Shows the kept result if this page has its card and this phone kept one; says whether it did. */
export function showKeptResult() {
  var root = document.getElementById("kept-result");
  if (!root) { return false; }
  var kept;
  try { kept = JSON.parse(window.localStorage.getItem(finalKey(root.dataset.code))); } catch (e) { return false; }
  if (!kept || !kept.profile) { return false; }
  var texts = pageTexts();
  var profile = Object.assign({}, kept.profile, texts.profiles[kept.profile.key] || {});
  document.getElementById("kept-name").textContent = profile.name;
  document.getElementById("kept-description").textContent = profile.description;
  document.getElementById("kept-assignment").textContent = profile.assignment;
  var tables = root.querySelectorAll(".kept-round");
  var rounds = roundTables(root, kept, texts);
  Array.prototype.forEach.call(tables, (table, i) => {
    var round = rounds[i];
    table.hidden = !round;
    if (!round) { return; }
    table.querySelector("caption").textContent = round.caption;
    table.querySelector("caption").hidden = !round.caption;
    fillRows(table.querySelector("tbody"), round.rows);
  });
  fillValues(document.getElementById("kept-values"), kept.ticket);
  root.hidden = false;
  return true;
}
