/* The projector never cuts text: where a box's text does not fit at its full size (a long profile
   description, texts at the exercise format's limits, a small projector), that box's type steps down
   until it fits. The stage gives up the description and assignment first, the profile's name last.
   The boxes and the custom properties they scale by are in app.css (--fit, --fit-text). */
var BOXES = ".screen-head, .lobby-text, .screen-plots .plot, .stage, .group-card";
var STEP = 0.05;
var FLOOR = 0.35;

// A slider's plot keeps at least this share of its card: text grows into the plot's room, not over it.
var PLOT_SHARE = 0.25;

function overflows(box) {
  if (box.scrollHeight > box.clientHeight + 1 || box.scrollWidth > box.clientWidth + 1) { return true; }
  var plot = box.querySelector(".dotplot");
  if (plot && plot.getClientRects().length && plot.getBoundingClientRect().height < PLOT_SHARE * box.clientHeight) { return true; }
  var inner = box.querySelectorAll("div, h1, h2, h3, p, dt, dd, span, strong");
  for (var i = 0; i < inner.length; i += 1) {
    var el = inner[i];
    if (el.clientHeight && (el.scrollHeight > el.clientHeight + 1 || el.scrollWidth > el.clientWidth + 1)) { return true; }
  }
  return false;
}

function shrink(box, property, floor) {
  var fit = Number(box.style.getPropertyValue(property)) || 1;
  box.style.setProperty(property, String(fit));
  while (overflows(box) && fit > floor) {
    fit = Math.round((fit - STEP) * 100) / 100;
    box.style.setProperty(property, String(fit));
  }
}

/* One dot size per view: the server draws every plot's dots at one size (charts.dot_size), so every plot
   must be drawn at one scale too. A card whose poles take two lines has less room for its plot; all plots
   take the height of the smallest. */
function evenPlots(scope) {
  var plots = Array.prototype.filter.call(scope.querySelectorAll(".screen-plots .dotplot"), function (svg) {
    svg.style.height = "";
    return svg.getClientRects().length > 0;
  });
  if (plots.length < 2) { return; }
  var lowest = Math.min.apply(null, plots.map(function (svg) { return svg.getBoundingClientRect().height; }));
  plots.forEach(function (svg) { svg.style.height = lowest + "px"; });
}

/* The stage gives up its long texts first, then a little of everything, then the long texts further:
   the profile's name stays large as long as anything can. */
var STAGE = [["--fit-text", 0.75], ["--fit", 0.8], ["--fit-text", FLOOR], ["--fit", FLOOR]];

export function fitScreen(scope) {
  scope = scope || document;
  Array.prototype.forEach.call(scope.querySelectorAll(".screen-plots .dotplot"), function (svg) { svg.style.height = ""; });
  var boxes = scope.querySelectorAll(BOXES);
  Array.prototype.forEach.call(boxes, function (box) {
    box.style.setProperty("--fit", "1");
    box.style.setProperty("--fit-text", "1");
    var stages = box.classList.contains("stage") ? STAGE : [["--fit", FLOOR]];
    stages.forEach(function (stage) { shrink(box, stage[0], stage[1]); });
  });
  evenPlots(scope);
}

/* Again after every resize of the window (a projector that changes resolution, a window dragged). */
export function fitOnResize() {
  var pending = false;
  window.addEventListener("resize", function () {
    if (pending) { return; }
    pending = true;
    requestAnimationFrame(function () { pending = false; fitScreen(document); });
  });
  fitScreen(document);
}
