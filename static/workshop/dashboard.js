/* The dashboard: replace the live partial with each server-rendered aggregate. */
(function () {
  "use strict";
  var root = document.getElementById("dashboard");
  if (!root) { return; }
  var banner = document.getElementById("banner");

  function showBanner(message) {
    banner.textContent = message || "";
    banner.hidden = !message;
  }

  new window.LiveSocket("/ws/d/" + root.dataset.code + "/", {
    state: function (name) { showBanner(name === "offline" ? root.dataset.textOffline : ""); },
    open: function () { showBanner(""); },
    final: function (closeCode) {
      if (closeCode === 4403 || closeCode === 4404) { showBanner(root.dataset.textForbidden); return true; }
      return false;
    },
    message: function (message) {
      if (message.type !== "aggregate" || !message.html) { return; }
      var live = document.getElementById("live");
      if (live) { live.outerHTML = message.html; }
    },
  });
})();
