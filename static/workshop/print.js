/* A [data-print] button prints the page (no inline script). The results page has none: its "Rapport afdrukken"
   opens the report PDF itself, so that what is printed is the one document (docs/results-format.md). */
(function () {
  "use strict";
  Array.prototype.forEach.call(document.querySelectorAll("[data-print]"), function (button) {
    button.addEventListener("click", function () { window.print(); });
  });
})();
