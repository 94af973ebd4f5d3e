"""Nothing clipped: a check that any browser test can point at any page.

`clipped(page)` walks every visible text of the page (or of `root`) and returns what does not fit:

- an element whose own content overflows its box (`scrollHeight > clientHeight` or
  `scrollWidth > clientWidth`, for every element that holds text and lays out a box of its own);
- text outside the inner edge (inside the border) of any box around it: a card, a column, the stage;
- text outside the viewport. A page that may scroll (the phone) is held to the viewport's width only.

A box that scrolls (overflow auto or scroll, as the control panel's live view) cuts nothing along the
axis it scrolls in: text beyond its edge there is scrolled to, not lost.

Each problem is a dict: where (a short CSS path), the text (its first 60 characters), what and the numbers.
`font_sizes(page, selector)` gives the computed font size of every visible element that matches.
"""

from __future__ import annotations

from typing import Any

# Half a pixel for sub-pixel layout, a little more for text that is exactly as tall as its box.
TOLERANCE = 1.0

CLIPPED = """([rootSelector, scrolls, ignore, tolerance]) => {
  const root = document.querySelector(rootSelector) || document.body;
  const problems = [];
  const vw = document.documentElement.clientWidth, vh = document.documentElement.clientHeight;
  const path = (el) => {
    const parts = [];
    for (let e = el; e && e !== document.body && parts.length < 4; e = e.parentElement) {
      let part = e.tagName.toLowerCase();
      if (e.id) { part += "#" + e.id; parts.unshift(part); break; }
      const cls = Array.from(e.classList).slice(0, 2).join(".");
      if (cls) part += "." + cls;
      const key = e.dataset && (e.dataset.slider || e.dataset.key || e.dataset.testid);
      if (key) part += "[" + key + "]";
      parts.unshift(part);
    }
    return parts.join(" > ");
  };
  const shown = (el) => {
    if (ignore && el.closest(ignore)) return false;
    // checkVisibility also says no for the content of a closed <details> (content-visibility: hidden).
    if (el.checkVisibility && !el.checkVisibility({visibilityProperty: true})) return false;
    const style = getComputedStyle(el);
    return style.visibility !== "hidden" && el.getClientRects().length > 0;
  };
  const checkedBoxes = new Set();
  const isPage = (box) => box === document.body || box === document.documentElement;
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.data.trim();
    const el = node.parentElement;
    if (!text || !el || el.closest("script, style, svg, template, noscript") || !shown(el)) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    const rects = Array.from(range.getClientRects()).filter(r => r.width > 0 && r.height > 0);
    if (!rects.length) continue;
    const snippet = text.slice(0, 60);
    const report = (what, numbers, at) => problems.push({where: path(at || el), text: snippet, what, ...numbers});
    // A box that scrolls (overflow auto or scroll) cuts nothing along that axis: its reader scrolls to it.
    // Text inside one is held to the viewport along that axis no longer either.
    let scrollsX = false, scrollsY = false;
    // The element's own box: its content fits (text wraps, never runs out).
    for (let box = el; box && box !== root.parentElement; box = box.parentElement) {
      const style = getComputedStyle(box);
      if (style.display === "inline" || style.display === "contents") continue;
      const boxX = /auto|scroll/.test(style.overflowX), boxY = /auto|scroll/.test(style.overflowY);
      if (!checkedBoxes.has(box) && box.clientHeight > 0) {
        checkedBoxes.add(box);
        if (!boxY && box.scrollHeight > box.clientHeight + tolerance)
          report("overflows its box (height)", {scrollHeight: box.scrollHeight, clientHeight: box.clientHeight}, box);
        if (!boxX && box.scrollWidth > box.clientWidth + tolerance)
          report("overflows its box (width)", {scrollWidth: box.scrollWidth, clientWidth: box.clientWidth}, box);
      }
      // Text inside the inner edge of every box around it (a border it touches counts as cut), but along
      // the axes in which a box between them scrolls.
      const outer = box.getBoundingClientRect();
      const inner = {left: outer.left + box.clientLeft, top: outer.top + box.clientTop};
      inner.right = inner.left + box.clientWidth;
      inner.bottom = inner.top + box.clientHeight;
      scrollsX = scrollsX || boxX;
      scrollsY = scrollsY || boxY;
      const freeX = scrollsX, freeY = scrollsY || (scrolls && isPage(box));
      if (box.clientWidth === 0 || box.clientHeight === 0) continue;
      for (const r of rects) {
        if ((!freeX && (r.left < inner.left - tolerance || r.right > inner.right + tolerance)) ||
            (!freeY && (r.top < inner.top - tolerance || r.bottom > inner.bottom + tolerance))) {
          report("text outside a box around it", {
            box: path(box), text_rect: [r.left, r.top, r.right, r.bottom].map(Math.round),
            box_rect: [inner.left, inner.top, inner.right, inner.bottom].map(Math.round)});
          break;
        }
      }
      if (box === document.body) break;
    }
    for (const r of rects) {
      const outside = (!scrollsX && (r.left < -tolerance || r.right > vw + tolerance)) ||
        (!scrolls && !scrollsY && (r.top < -tolerance || r.bottom > vh + tolerance));
      if (outside) {
        const rect = [r.left, r.top, r.right, r.bottom].map(Math.round);
        report("outside the viewport", {text_rect: rect, viewport: [vw, vh]});
        break;
      }
    }
  }
  // One line per problem and place.
  const seen = new Set();
  return problems.filter(p => {
    const k = p.where + p.what + p.text;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}"""

FONT_SIZES = """(sel) => Array.from(document.querySelectorAll(sel))
  .filter(el => el.getClientRects().length && getComputedStyle(el).visibility !== "hidden")
  .map(el => parseFloat(getComputedStyle(el).fontSize))"""

DOT_WIDTHS = """(sel) => Array.from(document.querySelectorAll(sel))
  .filter(el => el.getClientRects().length)
  .map(el => Math.round(el.getBoundingClientRect().width * 10) / 10)"""


def clipped(
    page: Any,
    *,
    root: str = "body",
    scrolls: bool = False,
    ignore: str = ".skip, .visually-hidden",
    tolerance: float = TOLERANCE,
) -> list[dict[str, Any]]:
    """What does not fit on the page as it is now: [] when every text is inside its boxes and the viewport."""
    return page.evaluate(CLIPPED, [root, scrolls, ignore, tolerance])


def font_sizes(page: Any, selector: str) -> list[float]:
    """The computed font size (px) of every visible element matching the selector."""
    return page.evaluate(FONT_SIZES, selector)


def dot_widths(page: Any, selector: str = ".dotplot .dot") -> list[float]:
    """The drawn width (px) of every visible dot."""
    return page.evaluate(DOT_WIDTHS, selector)


def describe(problems: list[dict[str, Any]], limit: int = 12) -> str:
    """Problems as lines a failing assertion can show."""
    lines = [" ".join(f"{k}={v}" for k, v in p.items()) for p in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"... and {len(problems) - limit} more")
    return "\n".join(lines)
