/* The phone: five range inputs streaming `move` while dragging and `set` on
   release, following the facilitator's phases and rounds. Unacknowledged sets
   are kept in localStorage and sent again after a reconnect or a reload, so
   nothing is lost when a phone sleeps. Every intended answer counts: a tap on
   the thumb where it stands, Enter or Space also place the value. A ping every
   2 s while visible shows a lost connection within 5 s. Plain ES2017 for
   Safari 15. */
(function () {
  "use strict";
  var root = document.getElementById("participant");
  if (!root) { return; }
  var code = root.dataset.code;
  var text = root.dataset;
  var storageKey = "schuifoefening:" + code;
  var MOVE_INTERVAL = 100;  // at most ~10 moves a second
  var PING_INTERVAL = 2000;  // while the page is visible
  var SILENCE_LIMIT = 4500;  // nothing heard for this long (a pong is due every 2 s): the connection is gone
  var COMMIT_DELAY = 150;  // ms of quiet after the last change before a set
  var RETRY_DELAY = 2000;  // a set the server could not store goes again after 2-4 s
  var ABSTAIN = "abstain";

  function load() {
    try { return JSON.parse(window.localStorage.getItem(storageKey)) || {}; } catch (e) { return {}; }
  }
  var saved = load();
  var state = {
    token: saved.token || null,
    seq: saved.seq || 0,
    unacked: saved.unacked || {},   // slider key -> {seq, value, round}
    welcomed: false,
    session: null,
    group: null,
    groups: [],
    timerDone: null,
    known: {},      // slider key -> the last value the server holds for this round (null: not placed)
    knownRound: null,
    revealKey: null,
    dismissed: null,
    openKey: null,
  };
  function save() {
    try {
      window.localStorage.setItem(storageKey, JSON.stringify({ token: state.token, seq: state.seq, unacked: state.unacked }));
    } catch (e) { /* private mode: positions still live on the server */ }
  }

  var sliders = {};
  Array.prototype.forEach.call(root.querySelectorAll(".slider"), function (box) {
    sliders[box.dataset.key] = {
      key: box.dataset.key, box: box, input: box.querySelector("input[type=range]"),
      status: box.querySelector(".slider-state"), extra: box.querySelector(".slider-extra"),
      abstain: box.querySelector(".abstain"), ghost: box.querySelector(".marker.ghost"),
      median: box.querySelector(".marker.median"), label: box.querySelector(".slider-label"),
      left: box.dataset.left, right: box.dataset.right, open: false,
      lastMove: 0, trailing: null, settle: null,
    };
  });

  function describe(slider, value) {
    if (value === null || value === undefined) { return text.textUnset; }
    if (value === ABSTAIN) { return text.textAbstained; }
    if (value === 50) { return value + ", " + text.textMiddle; }
    return value + ", " + text.textTowards + " " + (value < 50 ? slider.left : slider.right);
  }

  /* value: a number, ABSTAIN, null (not placed) or undefined (leave as it is). */
  function show(key, value, status) {
    var slider = sliders[key];
    if (!slider) { return; }
    if (value !== undefined) {
      slider.box.classList.toggle("unset", value === null || value === ABSTAIN);
      slider.box.classList.toggle("abstained", value === ABSTAIN);
      slider.abstain.setAttribute("aria-pressed", value === ABSTAIN ? "true" : "false");
      if (typeof value === "number") { slider.input.value = value; }
      slider.input.setAttribute("aria-valuetext", describe(slider, value));
    }
    if (status) { slider.status.textContent = status; }
    var saved = state.known[key] !== null && state.known[key] !== undefined && !state.unacked[key];
    slider.box.classList.toggle("saved", saved);
  }

  var placedLine = document.getElementById("placed");
  function showPlaced() {
    var keys = Object.keys(sliders);
    var placed = keys.filter(function (key) { return state.known[key] !== null && state.known[key] !== undefined; }).length;
    var positioning = state.session && state.session.status === "positioning";
    placedLine.hidden = !positioning;
    placedLine.textContent = text.textPlaced.replace("{placed}", placed).replace("{total}", keys.length);
    placedLine.classList.toggle("done", placed === keys.length);
  }

  var announcer = document.getElementById("announce");
  function announce(message) {
    announcer.textContent = "";
    setTimeout(function () { announcer.textContent = message; }, 50);
  }

  function marker(element, value, label) {
    if (typeof value !== "number") { element.hidden = true; return; }
    element.hidden = false;
    element.style.setProperty("--pos", value);
    element.setAttribute("title", label + ": " + value);
  }

  var connection = document.getElementById("connection");
  function setConnection(name) {
    connection.dataset.state = name;
    connection.textContent = {
      connecting: text.textConnecting, connected: text.textConnected, offline: text.textOffline, ended: text.textEnded,
      refused: "",
    }[name];
    connection.hidden = name === "refused";
  }

  var notice = document.getElementById("notice");
  function showNotice(message) {
    notice.textContent = message || "";
    notice.hidden = !message;
  }

  function canMove(slider) {
    return state.welcomed && slider.open && !(state.groups.length && state.group === null) && state.timerDone !== true;
  }

  function applyOpen() {
    var status = state.session ? state.session.status : "lobby";
    var open = Object.keys(sliders).filter(function (key) { return sliders[key].open; });
    Object.keys(sliders).forEach(function (key) {
      var slider = sliders[key];
      var usable = canMove(slider);
      slider.input.disabled = !usable;
      slider.abstain.disabled = !usable;
      var locked = !usable && status === "positioning" && state.welcomed;
      // When time is up the phase line says so once; a slider the facilitator locked says so itself.
      slider.extra.hidden = !locked || state.timerDone === true;
      slider.extra.textContent = locked ? text.textLocked : "";
      // One slider at a time: the locked ones fold to a line, the open one comes into view.
      slider.box.classList.toggle("folded", status === "positioning" && open.length > 0 && !slider.open);
    });
    var focus = status === "positioning" && open.length === 1 ? open[0] : null;
    if (focus && focus !== state.openKey && state.welcomed) {
      var box = sliders[focus].box;
      setTimeout(function () { box.scrollIntoView({ block: "center", behavior: reducedMotion() ? "auto" : "smooth" }); }, 0);
    }
    state.openKey = focus;
  }

  function reducedMotion() {
    return window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  }

  function phaseText(session) {
    if (session.status === "lobby") { return text.textLobby; }
    if (session.status === "discussion") { return text.textDiscussion; }
    if (session.status === "closed") { return text.textEnded; }
    return session.round === 2 ? text.textRound2 : text.textRound1;
  }

  var timer = document.getElementById("timer");
  var timerInterval = null;
  function startTimer(spec) {
    clearInterval(timerInterval);
    state.timerDone = null;
    if (!spec) { timer.hidden = true; return; }
    var ends = Date.now() + spec.remaining_ms;
    function tick() {
      var left = Math.max(0, Math.round((ends - Date.now()) / 1000));
      timer.hidden = false;
      timer.textContent = left > 0 ? Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0") : text.textTimeUp;
      if (left === 0) {
        clearInterval(timerInterval);
        if (spec.locks) {
          state.timerDone = true;
          timer.hidden = true;
          document.getElementById("phase").textContent = text.textTimeUpLocked;
          applyOpen();
        }
      }
    }
    tick();
    timerInterval = setInterval(tick, 1000);
  }

  function renderGroups() {
    var picker = document.getElementById("group-picker");
    var needed = state.groups.length > 0 && state.group === null && state.session && state.session.status !== "closed";
    picker.hidden = !needed;
    if (!needed) { return; }
    var holder = document.getElementById("group-buttons");
    holder.textContent = "";
    state.groups.forEach(function (group) {
      var button = document.createElement("button");
      button.type = "button";
      button.className = "button";
      button.textContent = group.name;
      button.addEventListener("click", function () { socket.send({ type: "group", group: group.id }); });
      holder.appendChild(button);
    });
  }

  function renderReveal(reveal, round) {
    var panel = document.getElementById("reveal");
    var current = reveal && reveal.rounds[String(round)];
    Object.keys(sliders).forEach(function (key) {
      marker(sliders[key].median, current ? current.medians[key] : null, text.textMedian);
    });
    if (!current || !current.profile) { panel.hidden = true; state.revealKey = null; return; }
    var revealKey = round + ":" + current.profile.key;
    var fresh = revealKey !== state.revealKey;
    state.revealKey = revealKey;
    document.getElementById("reveal-eyebrow").textContent = round === 2 ? text.textRevealDesired : text.textRevealNow;
    panel.hidden = state.dismissed === revealKey;
    if (fresh && !panel.hidden) {
      announce(text.textRevealAnnounce + " " + current.profile.name);
      setTimeout(function () { panel.scrollIntoView({ block: "start", behavior: reducedMotion() ? "auto" : "smooth" }); }, 0);
    }
    document.getElementById("reveal-name").textContent = current.profile.name;
    document.getElementById("reveal-description").textContent = current.profile.description;
    document.getElementById("reveal-assignment").textContent = current.profile.assignment;
    var before = document.getElementById("reveal-before");
    var first = reveal.rounds["1"];
    before.hidden = !(round === 2 && first && first.profile);
    if (!before.hidden) { before.textContent = text.textNow + ": " + first.profile.name; }
  }

  function render(message) {
    state.session = message.session;
    state.group = message.group;
    state.groups = message.groups || [];
    document.getElementById("phase").textContent = phaseText(message.session);
    message.sliders.forEach(function (s) { if (sliders[s.key]) { sliders[s.key].open = s.open; } });
    // A set from an earlier round is not sent into this one.
    Object.keys(state.unacked).forEach(function (key) {
      if (state.unacked[key].round !== message.session.round) { delete state.unacked[key]; }
    });
    var sameRound = state.knownRound === message.session.round;
    var cleared = [];
    Object.keys(message.positions).forEach(function (key) {
      if (!sliders[key]) { return; }
      var pending = state.unacked[key];
      var before = state.known[key];
      state.known[key] = message.positions[key];
      // A slider the facilitator reset: what the server held is gone.
      if (sameRound && !pending && before !== null && before !== undefined && message.positions[key] === null) { cleared.push(key); }
      var value = pending ? pending.value : message.positions[key];
      var previous = message.previous ? message.previous[key] : null;
      show(key, value, value === null ? (typeof previous === "number" ? text.textConfirmRound1 : text.textUnset) : (pending ? text.textSaving : (value === ABSTAIN ? text.textAbstained : text.textSaved)));
      // Round 2 starts where this phone stood in round 1: one tap keeps it.
      if (value === null) { sliders[key].input.value = typeof previous === "number" ? previous : 50; }
      marker(sliders[key].ghost, previous, text.textGhost);
    });
    state.knownRound = message.session.round;
    if (cleared.length) {
      showNotice(cleared.map(function (key) { return sliders[key].label.firstChild.textContent; }).join(", ") + ": " + text.textReset);
    }
    showPlaced();
    startTimer(message.timer);
    renderGroups();
    renderReveal(message.reveal, message.session.round);
    applyOpen();
    save();
    if (message.session.status === "closed") { keepFinal(message); ended(); }
  }

  var retryTimer = null;
  function retryLater() {
    if (retryTimer) { return; }
    retryTimer = setTimeout(function () {
      retryTimer = null;
      if (state.welcomed) { resendUnacked(); }
    }, RETRY_DELAY + Math.random() * RETRY_DELAY);
  }

  function resendUnacked() {
    Object.keys(state.unacked).forEach(function (key) { sendSet(key, state.unacked[key]); });
  }

  function sendSet(key, entry) {
    if (entry.value === ABSTAIN) {
      socket.send({ type: "abstain", slider: key, seq: entry.seq });
    } else {
      socket.send({ type: "set", slider: key, value: entry.value, seq: entry.seq });
    }
  }

  // A reload after closing lands on the "not open" page: it shows this phone's kept result (ended.js).
  function keepFinal(message) {
    var current = message.reveal && message.reveal.rounds[String(message.session.round)];
    if (!current || !current.profile) { return; }
    // This phone's own positions per round: the server forgets which phone was whose when it closes.
    var own = {};
    own[String(message.session.round)] = state.known;
    if (message.previous) { own["1"] = message.previous; }
    var rows = Object.keys(sliders).map(function (key) {
      return { key: key, label: sliders[key].label.firstChild.textContent, own: state.known[key], median: current.medians[key] };
    });
    try {
      window.localStorage.setItem(storageKey + ":final", JSON.stringify({ profile: current.profile, rows: rows, own: own }));
    } catch (e) { /* private mode: the PDF still has it */ }
  }

  function ended() {
    setConnection("ended");
    document.getElementById("phase").textContent = text.textEnded;
    timer.hidden = true;
    clearInterval(timerInterval);
    Object.keys(sliders).forEach(function (key) {
      sliders[key].input.disabled = true;
      sliders[key].abstain.disabled = true;
      sliders[key].extra.hidden = true;
    });
    document.getElementById("group-picker").hidden = true;
    if (window.showKeptResult && window.showKeptResult()) { document.getElementById("reveal").hidden = true; }
  }

  var socket = new window.LiveSocket("/ws/p/" + code + "/", {
    // Once offline, the phone says so until it is welcomed back, through every attempt in between.
    state: function (name) { if (!(name === "connecting" && connection.dataset.state === "offline")) { setConnection(name); } },
    open: function () {
      heard();
      state.welcomed = false;
      var hello = { type: "hello", token: state.token };
      if (root.dataset.group) { hello.group = Number(root.dataset.group); }
      socket.send(hello);
    },
    final: function (closeCode) {
      if (closeCode === 4404) { ended(); return true; }
      if (closeCode === 4409) { setConnection("refused"); return true; }
      return false;
    },
    message: function (message) {
      heard();
      if (message.type === "welcome") {
        state.token = message.token;
        state.welcomed = true;
        showNotice("");
        render(message);
        // What the server has not acknowledged yet goes again, in order.
        resendUnacked();
        setConnection("connected");
      } else if (message.type === "state") {
        render(message);
      } else if (message.type === "ack") {
        Object.keys(state.unacked).forEach(function (key) {
          var entry = state.unacked[key];
          if (entry.seq === message.seq) {
            delete state.unacked[key];
            state.known[key] = entry.value;
            show(key, undefined, entry.value === ABSTAIN ? text.textAbstained : text.textSaved);
          }
        });
        save();
        showPlaced();
      } else if (message.type === "error") {
        var key = null;
        Object.keys(state.unacked).forEach(function (k) { if (state.unacked[k].seq === message.seq) { key = k; } });
        if (key && message.code !== "not_stored") { delete state.unacked[key]; save(); }
        // The database is away for a moment: keep the value and try again.
        if (key && message.code === "not_stored") { retryLater(); }
        var explained = {
          slider_locked: state.timerDone ? text.textTimeUpLocked : text.textLocked, room_locked: text.textRoomLocked, room_full: text.textRoomFull,
          group_required: text.textGroupRequired, not_stored: text.textSaving,
        }[message.code];
        if (key) { show(key, undefined, explained || message.message); } else { showNotice(explained || message.message); }
        if (message.code === "group_required") { renderGroups(); }
        // Not let in: one clear message, and no sliders that cannot move.
        if (message.code === "room_locked" || message.code === "room_full") { refused(explained); }
      }
    },
  }, {
    // Where the venue's network blocks websockets, the same messages go over plain HTTP.
    fallback: { stream: "/p/" + code + "/stream/", send: "/p/" + code + "/send/" },
  });

  function commit(key, value) {
    var slider = sliders[key];
    clearTimeout(slider.trailing);
    slider.trailing = null;
    // Tabs of one browser share the counter, so their sets never reuse a number.
    state.seq = Math.max(state.seq, load().seq || 0) + 1;
    var entry = { seq: state.seq, value: value, round: state.session ? state.session.round : 1 };
    state.unacked[key] = entry;
    save();
    show(key, value, text.textSaving);
    if (state.welcomed) { sendSet(key, entry); }
  }

  /* The slider's current value, if no set for it has been acknowledged (or is on its way) in this round. */
  function confirmWhereItStands(key) {
    var slider = sliders[key];
    if (!canMove(slider)) { return; }
    var value = Number(slider.input.value);
    var pending = state.unacked[key];
    if (pending ? pending.value === value : state.known[key] === value) { return; }
    commit(key, value);
  }

  function refused(message) {
    root.classList.add("refused");
    showNotice(message);
    setConnection("refused");
    Object.keys(sliders).forEach(function (key) { sliders[key].input.disabled = true; });
  }

  Object.keys(sliders).forEach(function (key) {
    var slider = sliders[key];
    function sendMove() {
      slider.trailing = null;
      slider.lastMove = Date.now();
      if (canMove(slider)) { socket.send({ type: "move", slider: key, value: Number(slider.input.value) }); }
    }
    slider.input.addEventListener("input", function () {
      show(key, Number(slider.input.value), null);
      var wait = MOVE_INTERVAL - (Date.now() - slider.lastMove);
      if (wait <= 0) { sendMove(); } else if (!slider.trailing) { slider.trailing = setTimeout(sendMove, wait); }
    });
    // Keyboard steps fire `change` on every key repeat: commit once the steps pause.
    slider.input.addEventListener("change", function () {
      clearTimeout(slider.settle);
      slider.settle = setTimeout(function () { commit(key, Number(slider.input.value)); }, COMMIT_DELAY);
    });
    // A tap or click on the thumb where it stands fires no change: place the value all the same.
    slider.input.addEventListener("pointerup", function () {
      // After the change handler's own commit (if the value moved), so nothing is sent twice.
      setTimeout(function () { confirmWhereItStands(key); }, COMMIT_DELAY + 60);
    });
    slider.input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " " || event.key === "Spacebar") {
        event.preventDefault();
        clearTimeout(slider.settle);
        confirmWhereItStands(key);
      }
    });
    // "Geen mening" is a toggle: a second tap places the slider's value again.
    slider.abstain.addEventListener("click", function () {
      var abstained = state.unacked[key] ? state.unacked[key].value === ABSTAIN : state.known[key] === ABSTAIN;
      commit(key, abstained ? Number(slider.input.value) : ABSTAIN);
    });
  });

  document.getElementById("reveal-close").addEventListener("click", function () {
    state.dismissed = state.revealKey;
    document.getElementById("reveal").hidden = true;
  });

  document.getElementById("sliders").addEventListener("submit", function (event) { event.preventDefault(); });

  /* A dead connection often looks open: while visible the phone pings every 2 s, and when nothing
     (no pong, no ack) has come back for 4.5 s the connection counts as gone. The socket is dropped
     and reconnected; what is unacknowledged goes again after the welcome. */
  var lastHeard = Date.now();
  function heard() { lastHeard = Date.now(); }
  var lastPing = 0;
  setInterval(function () {
    // An open socket that stays silent (no welcome after hello, no pong after pings) is dropped.
    if (document.visibilityState !== "visible" || !socket.isOpen()) { lastHeard = Date.now(); return; }
    if (Date.now() - lastHeard > SILENCE_LIMIT) {
      socket.restart();
      return;
    }
    if (state.welcomed && Date.now() - lastPing >= PING_INTERVAL) { lastPing = Date.now(); socket.send({ type: "ping" }); }
  }, 500);
})();
