"""The phone says what the server holds (issue 21, point 3): a reset notice lasts only until that
slider is placed again, "geen mening" turned off leaves the slider not placed, and a phone without
a group is asked to choose one. Real taps and keys in Chromium at 375 x 667 and 360 x 800."""

import pytest

from tests.test_browser import ARTIFACTS
from tests.test_room_phone import connected, server, workshop  # noqa: F401 (fixtures)
from tests.test_room_screen import control

pytestmark = pytest.mark.browser

TIME_UP = "De tijd is om: je antwoorden zijn bewaard."


def place(page, key: str, value: int | None = None) -> None:
    """Places one slider from the keyboard: at `value`, or where it stands (Enter)."""
    from playwright.sync_api import expect

    handle = page.locator(f"#slider-{key}")
    handle.focus()
    if value is None:
        page.keyboard.press("Enter")
    else:
        page.keyboard.press("Home")
        for _ in range(value):
            page.keyboard.press("ArrowRight")
    expect(page.locator(f"#state-{key}")).to_have_text("Opgeslagen")


def test_a_reset_notice_goes_once_its_slider_is_placed_again(workshop):  # noqa: F811
    from playwright.sync_api import expect

    code, panel, phone = workshop
    page = phone("375")
    connected(page)
    place(page, "aanpak")
    place(page, "regie")
    notice = page.locator("#notice")

    control(panel, code, "reset", slider="aanpak", confirm="yes")
    expect(notice).to_contain_text("Aanpak")
    expect(notice).to_contain_text("gewist")
    expect(page.locator("#state-aanpak")).to_have_text("Nog niet geplaatst")
    page.screenshot(path=ARTIFACTS / "phone-reset-notice-375.png", full_page=True, animations="disabled")
    place(page, "aanpak")
    expect(notice).to_be_hidden()

    # A later update names only the slider cleared since; the one placed again does not come back.
    control(panel, code, "reset", slider="regie", confirm="yes")
    expect(notice).to_contain_text("Regie")
    expect(notice).not_to_contain_text("Aanpak")


def test_a_reset_notice_goes_when_time_is_up(workshop):  # noqa: F811
    from playwright.sync_api import expect

    code, panel, phone = workshop
    page = phone("375")
    connected(page)
    place(page, "regie")
    notice = page.locator("#notice")
    control(panel, code, "reset", slider="regie", confirm="yes")
    expect(notice).to_contain_text("Regie")

    # Time runs out with a lock: nothing can be placed again, so nothing asks for it.
    control(panel, code, "timer", minutes="0.25", lock="on")
    expect(page.locator("#phase")).to_have_text(TIME_UP, timeout=25_000)
    expect(notice).to_be_hidden()
    expect(page.locator("#slider-regie")).to_be_disabled()


def test_turning_no_opinion_off_leaves_the_slider_not_placed_and_out_of_the_count(workshop):  # noqa: F811
    from playwright.sync_api import expect

    _, panel, phone = workshop
    first, second = phone("375"), phone("360")
    connected(first)
    connected(second)
    place(first, "sturing", 30)
    place(second, "sturing", 70)
    expect(panel.get_by_test_id("n-sturing")).to_have_text("2")

    abstain = second.locator(".slider[data-key=sturing] .abstain")
    abstain.scroll_into_view_if_needed()
    abstain.tap()
    expect(abstain).to_have_attribute("aria-pressed", "true")
    expect(panel.get_by_test_id("n-sturing")).to_have_text("1")
    abstain.tap()
    expect(abstain).to_have_attribute("aria-pressed", "false")
    expect(second.locator("#state-sturing")).to_have_text("Nog niet geplaatst")
    expect(second.locator("#placed")).to_have_text("0 van 5 geplaatst")
    second.screenshot(path=ARTIFACTS / "phone-abstain-off-360.png", animations="disabled")

    # The room counts the first phone alone: not a 50 the second never chose (n 2, median 45).
    place(first, "sturing", 40)
    expect(panel.get_by_test_id("median-sturing")).to_have_text("40")
    expect(panel.get_by_test_id("n-sturing")).to_have_text("1")
    # And the server agrees: after a reload the slider is still not placed.
    second.reload()
    connected(second)
    expect(second.locator("#state-sturing")).to_have_text("Nog niet geplaatst")
    expect(second.locator(".slider[data-key=sturing]")).to_have_class("slider unset")


def test_a_phone_without_a_group_is_asked_to_choose_one_not_told_the_slider_is_closed(workshop):  # noqa: F811
    from playwright.sync_api import expect

    code, panel, phone = workshop
    control(panel, code, "group_add", name="Trio A")
    control(panel, code, "group_add", name="Trio B")
    page = phone("375")
    connected(page)
    expect(page.locator("#group-picker")).to_be_visible()
    line = page.locator(".slider[data-key=sturing] .slider-extra")
    expect(line).to_have_text("Kies eerst je groep.")
    expect(page.locator("#slider-sturing")).to_be_disabled()
    assert "begeleider" not in page.locator("#sliders").inner_text()
    page.screenshot(path=ARTIFACTS / "phone-choose-group-375.png", animations="disabled")

    page.get_by_role("button", name="Trio A").click()
    expect(page.locator("#slider-sturing")).to_be_enabled()
    expect(line).to_be_hidden()
    place(page, "sturing")
    # Until the facilitator locks the groups, the phone may change its group; its own shows as chosen.
    expect(page.get_by_role("button", name="Trio A")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_role("button", name="Trio B")).to_have_attribute("aria-pressed", "false")
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=ARTIFACTS / "phone-group-chosen-375.png", animations="disabled")

    # Once the facilitator locks the groups, the picker goes.
    control(panel, code, "groups_lock", on="1")
    expect(page.locator("#group-picker")).to_be_hidden()
