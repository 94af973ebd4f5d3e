/* A closed session's result as this phone kept it: the profile, its assignment, its own positions
   beside the room's medians, and a form for a PDF of it. Shown on the phone when the session closes
   and on the "not open" page after a reload. The server no longer knows which phone was whose, so the
   form carries this phone's own positions; it never carries the token. */
(function () {
  "use strict";
  function show() {
    var root = document.getElementById("kept-result");
    if (!root) { return false; }
    var final;
    try { final = JSON.parse(window.localStorage.getItem("schuifoefening:" + root.dataset.code + ":final")); } catch (e) { return false; }
    if (!final || !final.profile) { return false; }
    document.getElementById("kept-name").textContent = final.profile.name;
    document.getElementById("kept-description").textContent = final.profile.description;
    document.getElementById("kept-assignment").textContent = final.profile.assignment;
    var body = document.getElementById("kept-rows");
    body.textContent = "";
    final.rows.forEach(function (row) {
      var tr = document.createElement("tr");
      var own = typeof row.own === "number" ? row.own : "–";
      var median = typeof row.median === "number" ? row.median.toLocaleString(document.documentElement.lang) : "–";
      [row.label, own, median].forEach(function (value, i) {
        var cell = document.createElement(i === 0 ? "th" : "td");
        if (i === 0) { cell.scope = "row"; }
        cell.textContent = value;
        tr.appendChild(cell);
      });
      body.appendChild(tr);
    });
    var values = document.getElementById("kept-values");
    values.textContent = "";
    Object.keys(final.own || {}).forEach(function (round) {
      Object.keys(final.own[round] || {}).forEach(function (key) {
        var value = final.own[round][key];
        if (value === null || value === undefined) { return; }
        var input = document.createElement("input");
        input.type = "hidden";
        input.name = "r" + round + "-" + key;
        input.value = value;
        values.appendChild(input);
      });
    });
    root.hidden = false;
    return true;
  }
  window.showKeptResult = show;
  show();
})();
