/* The phone: five range inputs streaming `move` while dragging and `set` on
   release. Unacknowledged sets are kept in localStorage and sent again after a
   reconnect or a reload, so nothing is lost when a phone sleeps. */
(function () {
  "use strict";
  var root = document.getElementById("participant");
  if (!root) { return; }
  var code = root.dataset.code;
  var text = root.dataset;
  var storageKey = "schuifoefening:" + code;
  var MOVE_INTERVAL = 100;  // at most ~10 moves a second
  var PING_INTERVAL = 25000;

  function load() {
    try { return JSON.parse(window.localStorage.getItem(storageKey)) || {}; } catch (e) { return {}; }
  }
  var saved = load();
  var state = {
    token: saved.token || null,
    seq: saved.seq || 0,
    unacked: saved.unacked || {},   // slider key -> {seq, value}
    welcomed: false,
  };
  function save() {
    try {
      window.localStorage.setItem(storageKey, JSON.stringify({ token: state.token, seq: state.seq, unacked: state.unacked }));
    } catch (e) { /* private mode: positions still live on the server */ }
  }

  var sliders = {};
  Array.prototype.forEach.call(root.querySelectorAll(".slider"), function (box) {
    var input = box.querySelector("input[type=range]");
    sliders[box.dataset.key] = {
      box: box, input: input, status: box.querySelector(".slider-state"),
      left: box.dataset.left, right: box.dataset.right,
      lastMove: 0, trailing: null,
    };
  });

  function describe(slider, value) {
    if (value === null || value === undefined) { return text.textUnset; }
    if (value === 50) { return value + ", " + text.textMiddle; }
    return value + ", " + text.textTowards + " " + (value < 50 ? slider.left : slider.right);
  }

  function show(key, value, status) {
    var slider = sliders[key];
    if (!slider) { return; }
    // undefined leaves the value as it is; null means not placed yet.
    if (value !== undefined) {
      if (value !== null) {
        slider.input.value = value;
        slider.box.classList.remove("unset");
      }
      slider.input.setAttribute("aria-valuetext", describe(slider, value));
    }
    if (status) { slider.status.textContent = status; }
  }

  var connection = document.getElementById("connection");
  function setConnection(name) {
    connection.dataset.state = name;
    connection.textContent = {
      connecting: text.textConnecting, connected: text.textConnected, offline: text.textOffline, ended: text.textEnded,
    }[name];
  }

  function sendSet(key, entry) {
    socket.send({ type: "set", slider: key, value: entry.value, seq: entry.seq });
  }

  function ended() {
    setConnection("ended");
    var notice = document.getElementById("ended");
    notice.textContent = text.textEnded;
    notice.hidden = false;
    Object.keys(sliders).forEach(function (key) { sliders[key].input.disabled = true; });
  }

  var socket = new window.LiveSocket("/ws/p/" + code + "/", {
    state: setConnection,
    open: function () {
      state.welcomed = false;
      socket.send({ type: "hello", token: state.token });
    },
    final: function (closeCode) {
      if (closeCode === 4404) { ended(); return true; }
      return false;
    },
    message: function (message) {
      if (message.type === "welcome") {
        state.token = message.token;
        state.welcomed = true;
        message.sliders.forEach(function (s) {
          if (sliders[s.key]) { sliders[s.key].input.disabled = !s.open; }
        });
        Object.keys(message.positions).forEach(function (key) {
          var pending = state.unacked[key];
          var value = pending ? pending.value : message.positions[key];
          show(key, value, value === null ? text.textUnset : (pending ? text.textSaving : text.textSaved));
        });
        // What the server has not acknowledged yet goes again, in order.
        Object.keys(state.unacked).forEach(function (key) { sendSet(key, state.unacked[key]); });
        save();
        setConnection("connected");
      } else if (message.type === "ack") {
        Object.keys(state.unacked).forEach(function (key) {
          if (state.unacked[key].seq === message.seq) {
            delete state.unacked[key];
            show(key, undefined, text.textSaved);
          }
        });
        save();
      } else if (message.type === "error") {
        var key = null;
        Object.keys(state.unacked).forEach(function (k) { if (state.unacked[k].seq === message.seq) { key = k; } });
        if (key && message.code !== "not_stored") { delete state.unacked[key]; save(); }
        if (key) { show(key, undefined, message.message); }
      } else if (message.type === "session" && message.session.status === "closed") {
        ended();
      }
    },
  });

  Object.keys(sliders).forEach(function (key) {
    var slider = sliders[key];
    function sendMove() {
      slider.trailing = null;
      slider.lastMove = Date.now();
      if (state.welcomed) { socket.send({ type: "move", slider: key, value: Number(slider.input.value) }); }
    }
    slider.input.addEventListener("input", function () {
      var value = Number(slider.input.value);
      show(key, value, null);
      var wait = MOVE_INTERVAL - (Date.now() - slider.lastMove);
      if (wait <= 0) { sendMove(); } else if (!slider.trailing) { slider.trailing = setTimeout(sendMove, wait); }
    });
    slider.input.addEventListener("change", function () {
      clearTimeout(slider.trailing);
      slider.trailing = null;
      state.seq += 1;
      var entry = { seq: state.seq, value: Number(slider.input.value) };
      state.unacked[key] = entry;
      save();
      show(key, entry.value, text.textSaving);
      if (state.welcomed) { sendSet(key, entry); }
    });
  });

  document.getElementById("sliders").addEventListener("submit", function (event) { event.preventDefault(); });
  setInterval(function () { if (state.welcomed) { socket.send({ type: "ping" }); } }, PING_INTERVAL);
})();
