/* The comparison with the session's reference under the revealed profile (workshop/reference_view.py,
   phone_data): the same figures as the projector's "Vergelijk", as text and a small band per slider. */

function text(tag, className, content) {
  var node = document.createElement(tag);
  if (className) { node.className = className; }
  node.textContent = content;
  return node;
}

function band(slider) {
  var track = document.createElement("div");
  track.className = "phone-band";
  track.setAttribute("aria-hidden", "true");
  if (slider.q1 !== null) {
    var middle = document.createElement("span");
    middle.className = "phone-band-middle";
    middle.style.left = slider.q1 + "%";
    middle.style.width = Math.max(slider.q3 - slider.q1, 1) + "%";
    track.appendChild(middle);
  }
  if (slider.room !== null) {
    var dot = document.createElement("span");
    dot.className = "phone-band-room";
    dot.style.left = slider.room + "%";
    track.appendChild(dot);
  }
  return track;
}

function figure(value) {
  return value === null ? "–" : String(Math.round(value * 10) / 10).replace(".", ",");
}

export function renderCompare(current) {
  var box = document.getElementById("reveal-compare");
  if (!box) { return; }
  var compare = current && current.compare;
  box.hidden = !compare;
  box.textContent = "";
  if (!compare) { return; }
  box.appendChild(text("h3", "", compare.title));
  box.appendChild(text("p", "small", compare.source));
  if (compare.share) { box.appendChild(text("p", "", compare.share)); }
  var list = document.createElement("ul");
  compare.sliders.forEach(function (slider) {
    var item = document.createElement("li");
    item.appendChild(text("strong", "", slider.label));
    var room = (slider.before === null ? "" : figure(slider.before) + " → ") + figure(slider.room);
    var others = figure(slider.median) + (slider.q1 === null ? "" : " (" + figure(slider.q1) + "–" + figure(slider.q3) + ")") +
      (slider.desired === null ? "" : " → " + figure(slider.desired));
    item.appendChild(text("p", "small", slider.you + " " + room + " · " + slider.others + " " + others +
      (slider.place ? " · " + slider.place : "")));
    item.appendChild(band(slider));
    list.appendChild(item);
  });
  box.appendChild(list);
}
