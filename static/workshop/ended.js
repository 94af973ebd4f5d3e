/* The "not open" page of a session this phone took part in: the result it kept when the session
   closed, and the form for its own PDF (the token goes in a POST body, never in a URL). */
(function () {
  "use strict";
  var root = document.getElementById("kept-result");
  if (!root) { return; }
  var key = "schuifoefening:" + root.dataset.code;
  var saved, final;
  try {
    saved = JSON.parse(window.localStorage.getItem(key)) || {};
    final = JSON.parse(window.localStorage.getItem(key + ":final"));
  } catch (e) { return; }
  if (!final || !saved.token) { return; }
  document.getElementById("kept-name").textContent = final.profile.name;
  document.getElementById("kept-description").textContent = final.profile.description;
  document.getElementById("kept-assignment").textContent = final.profile.assignment;
  var body = document.getElementById("kept-rows");
  final.rows.forEach(function (row) {
    var tr = document.createElement("tr");
    [row.label, row.own === null || row.own === undefined || row.own === "abstain" ? "–" : row.own, row.median === null || row.median === undefined ? "–" : row.median].forEach(function (value, i) {
      var cell = document.createElement(i === 0 ? "th" : "td");
      if (i === 0) { cell.scope = "row"; }
      cell.textContent = value;
      tr.appendChild(cell);
    });
    body.appendChild(tr);
  });
  document.getElementById("take-home-token").value = saved.token;
  root.hidden = false;
})();
