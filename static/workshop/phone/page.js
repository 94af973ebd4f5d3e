/* The phone page as the other modules see it: its texts and constants (data- attributes of
   #participant, rendered by the server), its elements, its sliders, and what it remembers. */
import { constant, socketTimings } from "../live/constants.js";
import { loadSaved } from "./store.js";

export var ABSTAIN = "abstain";

function collectSliders(root) {
  var sliders = {};
  Array.prototype.forEach.call(root.querySelectorAll(".slider"), (box) => {
    sliders[box.dataset.key] = {
      key: box.dataset.key, box: box, input: box.querySelector("input[type=range]"),
      status: box.querySelector(".slider-state"), extra: box.querySelector(".slider-extra"),
      abstain: box.querySelector(".abstain"), ghost: box.querySelector(".marker.ghost"),
      median: box.querySelector(".marker.median"), label: box.querySelector(".slider-label"),
      left: box.dataset.left, right: box.dataset.right,
      open: false, reason: null,   // as the server last said: may it move, and if not, why
      lastMove: 0, trailing: null, settle: null,
    };
  });
  return sliders;
}

function elements() {
  var byId = (id) => document.getElementById(id);
  return {
    phase: byId("phase"), timer: byId("timer"), notice: byId("notice"), placed: byId("placed"),
    connection: byId("connection"), announce: byId("announce"), reveal: byId("reveal"),
    groupPicker: byId("group-picker"), groupButtons: byId("group-buttons"), myGroup: byId("my-group"),
  };
}

function limits(root) {
  return {
    moveInterval: constant(root, "moveIntervalMs"),
    pingInterval: constant(root, "pingIntervalMs"),
    silenceLimit: constant(root, "silenceLimitMs"),
    commitDelay: constant(root, "commitDelayMs"),
    retryDelay: constant(root, "retryDelayMs"),
    closeNotFound: constant(root, "closeNotFound"),
    closeRefused: constant(root, "closeRefused"),
    refusedRetryFirst: constant(root, "refusedRetryFirstMs"),
    refusedRetryMax: constant(root, "refusedRetryMaxMs"),
    socket: socketTimings(root),
  };
}

export function readPage(root) {
  var code = root.dataset.code;
  var storageKey = "schuifoefening:" + code;
  var saved = loadSaved(storageKey);
  return {
    root: root, code: code, storageKey: storageKey, text: root.dataset,
    limits: limits(root), el: elements(), sliders: collectSliders(root), socket: null,
    state: {
      token: saved.token || null,
      seq: saved.seq || 0,
      unacked: saved.unacked || {},   // slider key -> {seq, value, round}; value null: a clear
      welcomed: false,
      session: null,                  // the server's session: status, stage, round
      mayChooseGroup: false,
      groups: [],
      group: null,                    // this phone's group id, or null
      pickerFor: null,                // the groups the picker was last brought into view for ("" for none)
      timer: null,                    // the server's timer, or null
      known: {},      // slider key -> the last value the server holds for this round (null: not placed)
      reset: {},      // slider key -> true while "the facilitator cleared your answer" stands for it
      message: "",    // a notice not about one slider (an error)
      revealKey: null,
      dismissed: null,
      openKey: null,
    },
  };
}

/* The slider's name as its label shows it (without the saved mark). */
export function sliderName(slider) {
  return slider.label.firstChild.textContent;
}

export function each(phone, fn) {
  Object.keys(phone.sliders).forEach((key) => fn(phone.sliders[key], key));
}
