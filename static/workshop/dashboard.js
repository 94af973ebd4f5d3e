/* Control panel and projector screen: swap in each server-rendered live
   partial, and count timers down between updates. The panel's keyboard
   shortcuts click its own buttons; "freeze" tells the screen (another tab of
   the same browser) to keep its last frame until it is unfrozen. Its timings
   and close codes come from the server as data- attributes of #dashboard. */
import { LiveSocket } from "./live/socket.js";
import { constant, socketTimings } from "./live/constants.js";
import { fitScreen, fitOnResize } from "./live/fit.js";

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

/* The freeze switch, shared by the panel and the screen of one browser. */
function freezer(root) {
  var key = "schuifoefening:freeze:" + root.dataset.code;
  var channel = window.BroadcastChannel ? new window.BroadcastChannel(key) : null;
  var read = function () {
    try { return window.localStorage.getItem(key) === "1"; } catch (e) { return false; }
  };
  return { key: key, channel: channel, frozen: read() };
}

/* The live partial: swapped in, or held while the screen is frozen. */
function liveSwapper(freeze, isScreen) {
  var held = null;  // the newest html that came in while frozen
  function swapIn(html) {
    if (isScreen && freeze.frozen) { held = html; return; }
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
    if (isScreen) { fitScreen(fresh); }
    startTimers(fresh);
  }
  function release() {
    if (held) { var html = held; held = null; swapIn(html); }
  }
  return { swapIn: swapIn, release: release };
}

/* The server's new controls (a timer that ran out, another tab): open folds stay open, and a field being
   typed in is not swapped away under the facilitator; its swap waits until the field loses focus. */
function controlsSwapper(afterSwap) {
  var waiting = null;
  function swapControls(html) {
    var current = document.getElementById("controls");
    if (!current || !html) { return; }
    var active = document.activeElement;
    if (active && current.contains(active) && active.matches("input, textarea, select")) {
      if (waiting === null) {
        active.addEventListener("blur", function () { var later = waiting; waiting = null; swapControls(later); }, { once: true });
      }
      waiting = html;
      return;
    }
    var state = panelState();
    var holder = document.createElement("div");
    holder.innerHTML = html;
    var fresh = holder.querySelector("#controls");
    if (!fresh) { return; }
    current.replaceWith(fresh);
    restorePanel(fresh, state);
    if (window.htmx) { window.htmx.process(fresh); }
    startTimers(fresh);
    afterSwap();
    placeDrawers(document.getElementById("dashboard"));
  }
  return swapControls;
}

function followFreeze(freeze, swapper) {
  function setFrozen(on) {
    freeze.frozen = on;
    document.body.classList.toggle("screen-frozen", on);
    if (!on) { swapper.release(); }
  }
  document.body.classList.toggle("screen-frozen", freeze.frozen);
  if (freeze.channel) {
    freeze.channel.onmessage = function (event) { if (event.data && event.data.type === "freeze") { setFrozen(!!event.data.on); } };
  }
  window.addEventListener("storage", function (event) { if (event.key === freeze.key) { setFrozen(event.newValue === "1"); } });
}

function freezeButtons(freeze) {
  var showFreeze = function () {
    Array.prototype.forEach.call(document.querySelectorAll("[data-freeze]"), function (button) {
      button.setAttribute("aria-pressed", freeze.frozen ? "true" : "false");
      button.classList.toggle("active", freeze.frozen);
    });
  };
  var toggleFreeze = function () {
    freeze.frozen = !freeze.frozen;
    try { window.localStorage.setItem(freeze.key, freeze.frozen ? "1" : "0"); } catch (e) { /* the channel still carries it */ }
    if (freeze.channel) { freeze.channel.postMessage({ type: "freeze", on: freeze.frozen }); }
    showFreeze();
  };
  showFreeze();
  document.body.addEventListener("htmx:afterSwap", showFreeze);
  document.body.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-freeze]")) { toggleFreeze(); }
  });
  return showFreeze;
}

/* Keys work wherever the focus is (a fold-out's summary, a button, a checkbox, the page) except where one types. */
var TYPING = "textarea, select, [contenteditable], input:not([type=checkbox]):not([type=radio]):not([type=button]):not([type=submit])";

function shortcuts() {
  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || event.repeat) { return; }
    if (event.key === "Escape") { closeFolds(); return; }
    var target = event.target;
    if (target.closest && target.closest(TYPING)) { return; }
    var key = (event.key || "").toLowerCase();
    var button = document.querySelector("#controls [data-shortcut='" + key + "']");
    if (!button || button.disabled) { return; }
    event.preventDefault();
    // A button swapped in a moment ago may not be wired up by htmx yet.
    if (window.htmx) { window.htmx.process(button); }
    button.click();
  });
}

/* The open fold-out is a drawer beside the steps (app.css); only one is open at a time. */
function closeFolds() {
  Array.prototype.forEach.call(document.querySelectorAll("#controls details[data-fold][open]"), function (el) {
    var summary = el.querySelector("summary");
    var inside = el.contains(document.activeElement);
    el.open = false;
    if (inside && summary) { summary.focus(); }
  });
}

function placeDrawers(root) {
  var grid = document.querySelector(".control-grid");
  if (grid) { root.style.setProperty("--drawer-top", Math.max(0, Math.round(grid.getBoundingClientRect().top)) + "px"); }
}

/* Which folds were open and what had the focus, so that a swapped-in #controls (htmx's answer to a control,
   or the socket's) looks as it did: the fold stays open, the focus stays on the same control. */
function panelState() {
  var current = document.getElementById("controls");
  var state = { open: {}, focus: null };
  if (!current) { return state; }
  Array.prototype.forEach.call(current.querySelectorAll("details[data-fold]"), function (el) { state.open[el.dataset.fold] = el.open; });
  var active = document.activeElement;
  if (active && current.contains(active) && active !== current) {
    var fold = active.closest("details[data-fold]");
    if (active.id) { state.focus = "#" + active.id; }
    else if (active.matches("summary") && fold) { state.focus = "details[data-fold='" + fold.dataset.fold + "'] > summary"; }
    else if (active.dataset.shortcut) { state.focus = "[data-shortcut='" + active.dataset.shortcut + "']"; }
  }
  return state;
}

function restorePanel(fresh, state) {
  Array.prototype.forEach.call(fresh.querySelectorAll("details[data-fold]"), function (el) { el.open = !!state.open[el.dataset.fold]; });
  if (state.focus) {
    var again = fresh.querySelector(state.focus);
    if (again) { again.focus({ preventScroll: true }); }
  }
}

function keepPanelAcrossSwaps(root) {
  var saved = null;
  document.body.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "controls") { saved = panelState(); }
  });
  document.body.addEventListener("htmx:afterSwap", function () {
    var fresh = document.getElementById("controls");
    if (saved && fresh) { restorePanel(fresh, saved); }
    saved = null;
    placeDrawers(root);
  });
  window.addEventListener("resize", function () { placeDrawers(root); });
  document.addEventListener("toggle", function (event) {
    // One drawer at a time, also where a browser does not know <details name>.
    var opened = event.target;
    if (opened.matches && opened.matches("#controls details[data-fold]") && opened.open) {
      Array.prototype.forEach.call(document.querySelectorAll("#controls details[data-fold][open]"), function (el) {
        if (el !== opened) { el.open = false; }
      });
    }
    placeDrawers(root);
  }, true);
  placeDrawers(root);
}

function listen(root, swapper, swapControls) {
  var banner = document.getElementById("banner");
  var showBanner = function (message) {
    banner.textContent = message || "";
    banner.hidden = !message;
  };
  var path = "/ws/d/" + root.dataset.code + "/" + (root.dataset.view === "screen" ? "?view=screen" : "");
  var refused = [constant(root, "closeForbidden"), constant(root, "closeNotFound")];
  // Dashboards reconnect sooner than phones (their own backoffMaxMs): there are few of them.
  var socket = new LiveSocket(path, {
    state: function (name) { showBanner(name === "offline" ? root.dataset.textOffline : ""); },
    open: function () { showBanner(""); },
    final: function (closeCode) {
      if (refused.indexOf(closeCode) >= 0) { showBanner(root.dataset.textForbidden); return true; }
      return false;
    },
    message: function (message) {
      if (message.type === "controls") { swapControls(message.html); return; }
      if (message.type !== "aggregate") { return; }
      swapper.swapIn(message.html);
      // The server sends the next aggregate only once this one is shown.
      socket.send({ type: "seen" });
    },
  }, socketTimings(root));
}

var root = document.getElementById("dashboard");
if (root) {
  var isScreen = root.dataset.view === "screen";
  var freeze = freezer(root);
  var swapper = liveSwapper(freeze, isScreen);
  startTimers(document);
  document.body.addEventListener("htmx:afterSwap", function (event) { startTimers(event.target); });
  var showFreeze = function () {};
  if (isScreen) { followFreeze(freeze, swapper); fitOnResize(); } else { showFreeze = freezeButtons(freeze); shortcuts(); keepPanelAcrossSwaps(root); }
  listen(root, swapper, controlsSwapper(function () { showFreeze(); }));
}
