/* The numbers a page's script runs on come from the server (workshop/page_constants.py), as
   data- attributes on the page's root: no script keeps its own copy. */

/* One data- attribute as a number. A missing one is a bug in the template, not a reason to guess. */
export function constant(root, name) {
  var raw = root.dataset[name];
  var value = Number(raw);
  if (raw === undefined || raw === "" || Number.isNaN(value)) { throw new Error("missing data- constant: " + name); }
  return value;
}

/* The timings LiveSocket takes (live/socket.js), from a page root that carries them. */
export function socketTimings(root) {
  return {
    backoffFirst: constant(root, "backoffFirstMs"),
    backoffMax: constant(root, "backoffMaxMs"),
    openTimeout: constant(root, "openTimeoutMs"),
    fallbackAfter: constant(root, "fallbackAfterMs"),
    shortLived: constant(root, "shortLivedMs"),
    probeFirst: constant(root, "probeFirstMs"),
    probeMax: constant(root, "probeMaxMs"),
    batchSize: constant(root, "batchSize"),
  };
}
