/* The countdown. It only counts: when time runs out with a lock, the server sends the new state
   (sliders closed with reason "time_up"); until then the phone shows 0:00's "time is up". */

var interval = null;

function format(phone, left) {
  return left > 0 ? Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0") : phone.text.textTimeUp;
}

/* spec: the server's {remaining_ms, locks, expired}, or null without a timer. */
export function startTimer(phone, spec) {
  clearInterval(interval);
  var element = phone.el.timer;
  // Expired with a lock: the phase line says so (render.js), the countdown has nothing left to say.
  if (!spec || (spec.expired && spec.locks)) { element.hidden = true; return; }
  var ends = Date.now() + spec.remaining_ms;
  var tick = () => {
    var left = Math.max(0, Math.round((ends - Date.now()) / 1000));
    element.hidden = false;
    element.textContent = format(phone, left);
    if (left === 0) { clearInterval(interval); }
  };
  tick();
  interval = setInterval(tick, 1000);
}

export function stopTimer(phone) {
  clearInterval(interval);
  phone.el.timer.hidden = true;
}
