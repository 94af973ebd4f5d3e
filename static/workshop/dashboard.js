/* Control panel and projector screen: swap in each server-rendered live
   partial, and count timers down between updates. The panel's keyboard
   shortcuts click its own buttons; "freeze" tells the screen (another tab of
   the same browser) to keep its last frame until it is unfrozen. */
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

  var isScreen = root.dataset.view === "screen";
  var showFreeze = null;
  var freezeKey = "schuifoefening:freeze:" + root.dataset.code;
  var channel = window.BroadcastChannel ? new window.BroadcastChannel(freezeKey) : null;
  function readFrozen() {
    try { return window.localStorage.getItem(freezeKey) === "1"; } catch (e) { return false; }
  }
  var frozen = readFrozen();
  var held = null;  // the newest html that came in while frozen

  function swapIn(html) {
    if (isScreen && frozen) { held = html; return; }
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

  /* The server's new controls (a timer that ran out, another tab): open folds stay open, and a field being
     typed in is not swapped away under the facilitator; its swap waits until the field loses focus. */
  var waitingControls = null;
  function swapControls(html) {
    var current = document.getElementById("controls");
    if (!current || !html) { return; }
    var active = document.activeElement;
    if (active && current.contains(active) && active.matches("input, textarea, select")) {
      if (waitingControls === null) {
        active.addEventListener("blur", function () { var later = waitingControls; waitingControls = null; swapControls(later); }, { once: true });
      }
      waitingControls = html;
      return;
    }
    var open = {};
    Array.prototype.forEach.call(current.querySelectorAll("details[data-fold]"), function (el) { open[el.dataset.fold] = el.open; });
    var holder = document.createElement("div");
    holder.innerHTML = html;
    var fresh = holder.querySelector("#controls");
    if (!fresh) { return; }
    Array.prototype.forEach.call(fresh.querySelectorAll("details[data-fold]"), function (el) { el.open = !!open[el.dataset.fold]; });
    current.replaceWith(fresh);
    if (window.htmx) { window.htmx.process(fresh); }
    startTimers(fresh);
    if (showFreeze) { showFreeze(); }
  }

  function setFrozen(on) {
    frozen = on;
    document.body.classList.toggle("screen-frozen", on);
    if (!on && held) { var html = held; held = null; swapIn(html); }
  }

  if (isScreen) {
    document.body.classList.toggle("screen-frozen", frozen);
    if (channel) { channel.onmessage = function (event) { if (event.data && event.data.type === "freeze") { setFrozen(!!event.data.on); } }; }
    window.addEventListener("storage", function (event) { if (event.key === freezeKey) { setFrozen(event.newValue === "1"); } });
  } else {
    showFreeze = function () {
      Array.prototype.forEach.call(document.querySelectorAll("[data-freeze]"), function (button) {
        button.setAttribute("aria-pressed", frozen ? "true" : "false");
        button.classList.toggle("active", frozen);
      });
    };
    var toggleFreeze = function () {
      frozen = !frozen;
      try { window.localStorage.setItem(freezeKey, frozen ? "1" : "0"); } catch (e) { /* the channel still carries it */ }
      if (channel) { channel.postMessage({ type: "freeze", on: frozen }); }
      showFreeze();
    };
    frozen = readFrozen();
    showFreeze();
    document.body.addEventListener("htmx:afterSwap", showFreeze);
    document.body.addEventListener("click", function (event) {
      if (event.target.closest && event.target.closest("[data-freeze]")) { toggleFreeze(); }
    });
    document.addEventListener("keydown", function (event) {
      if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || event.repeat) { return; }
      var target = event.target;
      if (target.closest && target.closest("input, textarea, select, [contenteditable], summary")) { return; }
      var key = (event.key || "").toLowerCase();
      var button = document.querySelector("#controls [data-shortcut='" + key + "']");
      if (!button || button.disabled) { return; }
      event.preventDefault();
      // A button swapped in a moment ago may not be wired up by htmx yet.
      if (window.htmx) { window.htmx.process(button); }
      button.click();
    });
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
      if (message.type === "controls") { swapControls(message.html); return; }
      if (message.type !== "aggregate") { return; }
      swapIn(message.html);
      // The server sends the next aggregate only once this one is shown.
      socket.send({ type: "seen" });
    },
  }, { maxDelay: 2000 });
})();
