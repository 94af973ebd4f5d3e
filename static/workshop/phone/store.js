/* What the phone keeps in localStorage: its token, its counter, and the sets the server has not
   acknowledged yet, so that nothing is lost when a phone sleeps or reloads. */

export function loadSaved(storageKey) {
  try { return JSON.parse(window.localStorage.getItem(storageKey)) || {}; } catch (e) { return {}; }
}

export function save(phone) {
  var state = phone.state;
  try {
    window.localStorage.setItem(phone.storageKey, JSON.stringify({ token: state.token, seq: state.seq, unacked: state.unacked }));
  } catch (e) { /* private mode: positions still live on the server */ }
}

/* The next sequence number. Tabs of one browser share the counter, so their sets never reuse a number. */
export function nextSeq(phone) {
  phone.state.seq = Math.max(phone.state.seq, loadSaved(phone.storageKey).seq || 0) + 1;
  return phone.state.seq;
}
