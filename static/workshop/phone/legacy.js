/* A state message from a server before issue 21 carries no `stage`, no per-slider `reason`, no
   `may_choose_group` and no `timer.expired`: they are filled in here, the old way, in this one
   place. Nothing else on the phone decides what the server decides. */

function legacyStage(status, timeUp) {
  if (status === "positioning") { return timeUp ? "locked" : "open"; }
  return { lobby: "lobby", discussion: "discussing", closed: "closed" }[status];
}

function legacySlider(slider, status, timeUp, waitingForGroup) {
  if (status === "closed") { return Object.assign({}, slider, { open: false, reason: "closed" }); }
  if (!slider.open) { return Object.assign({}, slider, { reason: timeUp ? "time_up" : "not_open" }); }
  if (waitingForGroup) { return Object.assign({}, slider, { open: false, reason: "choose_group" }); }
  return Object.assign({}, slider, { reason: null });
}

export function normalise(message) {
  if (message.session.stage !== undefined) { return message; }
  var status = message.session.status;
  var timer = message.timer ? Object.assign({}, message.timer, { expired: message.timer.remaining_ms === 0 }) : null;
  var timeUp = !!(timer && timer.locks && timer.expired);
  var waitingForGroup = (message.groups || []).length > 0 && message.group === null && status !== "closed";
  return Object.assign({}, message, {
    session: Object.assign({}, message.session, { stage: legacyStage(status, timeUp) }),
    sliders: message.sliders.map((slider) => legacySlider(slider, status, timeUp, waitingForGroup)),
    may_choose_group: waitingForGroup,
    timer: timer,
    legacy: true,
  });
}

/* An older server sends nothing when time runs out: the phone plays that state itself, with the
   positions it knows by then (known()). */
var expiry = null;
export function expireLater(message, known, render) {
  clearTimeout(expiry);
  var timer = message.timer;
  if (!message.legacy || !timer || !timer.locks || timer.expired) { return; }
  expiry = setTimeout(() => {
    var sliders = message.sliders.map((slider) => Object.assign({}, slider, { open: false }));
    var session = { status: message.session.status, round: message.session.round };
    render(Object.assign({}, message, { session: session, sliders: sliders, positions: known(),
      timer: Object.assign({}, timer, { remaining_ms: 0 }) }));
  }, timer.remaining_ms);
}
