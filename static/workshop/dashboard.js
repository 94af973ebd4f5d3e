/* Control panel and projector screen: swap in each server-rendered live
   partial, and count timers down between updates. */
(function () {
  "use strict";
  var root = document.getElementById("dashboard");
  if (!root) { return; }
  var banner = document.getElementById("banner");

  function showBanner(message) {
    banner.textContent = message || "";
    banner.hidden = !message;
  }

  function startTimers(scope) {
    Array.prototype.forEach.call(scope.querySelectorAll(".timer[data-remaining-ms]"), function (el) {
      var ends = Date.now() + Number(el.dataset.remainingMs);
      function tick() {
        var left = Math.max(0, Math.round((ends - Date.now()) / 1000));
        el.textContent = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
        el.classList.toggle("done", left === 0);
        if (left > 0 && document.body.contains(el)) { setTimeout(tick, 1000); }
      }
      tick();
    });
  }
  startTimers(document);
  document.body.addEventListener("htmx:afterSwap", function (event) { startTimers(event.target); });

  function swapIn(html) {
    var live = document.getElementById("live");
    if (!live || !html) { return; }
    // The reveal animates once, not again on every update after it.
    var alreadyRevealed = !!live.querySelector(".reveal");
    var holder = document.createElement("div");
    holder.innerHTML = html;
    var fresh = holder.firstElementChild;
    if (alreadyRevealed) {
      Array.prototype.forEach.call(fresh.querySelectorAll(".reveal"), function (el) { el.classList.add("settled"); });
    }
    live.replaceWith(fresh);
    startTimers(fresh);
  }

  var path = "/ws/d/" + root.dataset.code + "/" + (root.dataset.view === "screen" ? "?view=screen" : "");
  // Dashboards reconnect sooner than phones (at most 2 s apart): there are few of them.
  var socket = new window.LiveSocket(path, {
    state: function (name) { showBanner(name === "offline" ? root.dataset.textOffline : ""); },
    open: function () { showBanner(""); },
    final: function (closeCode) {
      if (closeCode === 4403 || closeCode === 4404) { showBanner(root.dataset.textForbidden); return true; }
      return false;
    },
    message: function (message) {
      if (message.type !== "aggregate") { return; }
      swapIn(message.html);
      // The server sends the next aggregate only once this one is shown.
      socket.send({ type: "seen" });
    },
  }, { maxDelay: 2000 });
})();
