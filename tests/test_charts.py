"""A chart downloaded as SVG stands alone at any length of title, label or pole the format allows:
rendered in Chromium, every text stays inside the chart and no two texts overlap."""

import shutil

import pytest

from tests.conftest import CHROMIUM, CHROMIUM_ARGS, ROOT, need
from tests.test_report import longest, longest_workshop, two_rounds  # noqa: F401 (fixtures)
from workshop import charts

pytestmark = pytest.mark.django_db

MEASURE = """() => {
  const svg = document.querySelector("svg");
  const box = svg.getBoundingClientRect();
  const texts = [...svg.querySelectorAll(":scope > text")].map((t) => {
    const r = t.getBoundingClientRect();
    return {text: t.textContent, left: r.left - box.left, right: r.right - box.left, top: r.top - box.top,
            bottom: r.bottom - box.top};
  });
  const plot = svg.querySelector("g").getBoundingClientRect();
  return {width: box.width, height: box.height, texts, plot: {left: plot.left - box.left,
          right: plot.right - box.left, top: plot.top - box.top, bottom: plot.bottom - box.top}};
}"""


def overlap(a, b, slack=0.5):
    return (
        a["left"] < b["right"] - slack
        and b["left"] < a["right"] - slack
        and a["top"] < b["bottom"] - slack
        and b["top"] < a["bottom"] - slack
    )


def test_a_line_is_wrapped_between_words_and_a_word_too_long_inside_it():
    assert charts.wrap("een twee drie", size=10, width=45) == ["een", "twee", "drie"]
    assert charts.wrap("x" * 25, size=10, width=58) == ["x" * 10, "x" * 10, "x" * 5]
    assert charts.wrap("", size=10, width=100) == [""]


@pytest.mark.browser
@pytest.mark.parametrize("round", [1, 2])
def test_a_chart_with_the_longest_texts_keeps_every_text_inside_and_apart(fenna_client, longest_workshop, round):  # noqa: F811
    need(shutil.which(CHROMIUM) is not None, f"Chromium is not installed at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    svgs = {}
    for slider in longest_workshop.exercise.sliders.order_by("order"):
        response = fenna_client.get(f"/f/s/{longest_workshop.code}/results/{round}/{slider.key}.svg")
        assert response.status_code == 200
        svgs[slider.key] = response.content.decode()
    folder = ROOT / "artifacts"
    folder.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1000, "height": 800})
        for key, svg in svgs.items():
            page.set_content(f"<!doctype html><body style='margin:0'>{svg.split('?>', 1)[1]}</body>")
            found = page.evaluate(MEASURE)
            page.screenshot(path=str(folder / f"chart-longest-r{round}-{key}.png"), full_page=True)
            texts = found["texts"]
            assert longest_workshop.title[:20] in " ".join(t["text"] for t in texts)
            for t in texts:
                assert t["left"] >= 0 and t["right"] <= found["width"], t
                assert t["top"] >= 0 and t["bottom"] <= found["height"], t
                assert not overlap(t, found["plot"]), ("over the plot", t)
            for i, a in enumerate(texts):
                for b in texts[i + 1 :]:
                    assert not overlap(a, b), (a, b)
        browser.close()
