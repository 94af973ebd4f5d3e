"""The personal PDF belongs to its phone: made only from the ticket that phone got when the session
closed, counted in the join guard, rate-limited, strictly parsed, rendered one at a time, and with no
median that would give away another participant's answer."""

from __future__ import annotations

import gc
import io
import logging
import threading
import time

import psutil
import pytest
from django.test import Client
from pypdf import PdfReader

from tests.phones import SLIDERS
from workshop import closing, guard, result_ticket, result_views
from workshop.models import CODE_ALPHABET, Participant, Position

pytestmark = pytest.mark.django_db


@pytest.fixture
def closed_session(workshop_session):
    """Four phones placed every slider (10, 20, 30, 40), the last slider only by two of them; then closed."""
    sliders = list(workshop_session.exercise.sliders.order_by("order"))
    for i in range(4):
        phone = Participant.objects.create(session=workshop_session, token_hash=f"{i:064x}")
        for slider in sliders if i < 2 else sliders[:-1]:
            Position.objects.create(participant=phone, slider=slider, round=1, value=10 * (i + 1))
    closing.close_session(session=workshop_session)
    return workshop_session


def ticket_for(session, **own) -> str:
    return result_ticket.issue(code=session.code, own={1: own})


def post(client: Client, code: str, data: dict | str, **extra):
    if isinstance(data, str):
        return client.post(f"/j/{code}/result.pdf", data, content_type="application/x-www-form-urlencoded", **extra)
    return client.post(f"/j/{code}/result.pdf", data, **extra)


def pdf_text(response) -> str:
    assert response["Content-Type"] == "application/pdf", response.content[:300]
    return " ".join(PdfReader(io.BytesIO(response.content)).pages[0].extract_text().split())


def test_without_its_ticket_a_closed_session_gives_nothing_and_looks_like_an_unknown_code(client, closed_session):
    closed = post(client, closed_session.code, {})
    unknown = post(client, "ZZZZZZ", {})
    assert (closed.status_code, unknown.status_code) == (404, 404)
    assert closed["Content-Type"].startswith("text/html")
    # A made-up ticket, or one of another session, is no ticket.
    assert post(client, closed_session.code, {"ticket": "made-up"}).status_code == 404
    other = result_ticket.issue(code="ZZZZZZ", own={1: {"sturing": 50}})
    assert post(client, closed_session.code, {"ticket": other}).status_code == 404
    # An altered ticket: other positions, the same signature.
    real = ticket_for(closed_session, sturing=50)
    assert (
        post(client, closed_session.code, {"ticket": real[:-3] + ("AAA" if real[-3:] != "AAA" else "BBB")}).status_code
        == 404
    )


def test_the_phone_gets_its_own_positions_beside_the_rooms_medians_from_its_ticket(client, closed_session):
    text = pdf_text(post(client, closed_session.code, {"ticket": ticket_for(closed_session, sturing=77)}))
    assert "77" in text
    assert closed_session.title in text


def test_a_slider_with_fewer_than_three_answers_shows_no_median(client, closed_session):
    # The last slider has two answers, 10 and 20: with its median (15) one would give the other.
    last = SLIDERS[-1]
    text = pdf_text(post(client, closed_session.code, {"ticket": ticket_for(closed_session, **{last: 10})}))
    assert "15" not in text
    assert "25" in text  # the first slider, four answers: 10, 20, 30, 40


def test_lookups_without_a_ticket_count_in_the_join_guard(client, closed_session, monkeypatch):
    monkeypatch.setattr(guard, "clock", lambda: 1_000_000.0)
    for i in range(guard.MAX_FAILURES + 1):  # the limit, and this second's one lookup
        assert post(client, f"ZZZZ{CODE_ALPHABET[i // 10]}{CODE_ALPHABET[i % 10]}", {}).status_code == 404
    assert post(client, "ZZZZZZ", {"ticket": "x"}).status_code == 429
    assert post(client, closed_session.code, {}).status_code == 429
    assert client.get("/j/YYYYYY/").status_code == 429  # one budget for pages, sockets and the PDF


@pytest.mark.parametrize(
    "body",
    [
        "r1-sturing=%C2%B2",  # a superscript two: a digit to str.isdigit, no number to int()
        "r1-sturing=" + "9" * 5000,
        "ticket=a&ticket=b",
        "ticket=x&extra=1",
        "ticket=%00",
    ],
)
def test_a_malformed_body_is_a_400_with_one_log_line(client, closed_session, body, caplog):
    caplog.set_level(logging.INFO)
    response = post(client, closed_session.code, body)
    assert response.status_code in (400, 404)
    assert len(caplog.records) <= 1
    assert "Traceback" not in caplog.text


def test_each_address_gets_a_limited_number_of_downloads_a_minute(client, closed_session, monkeypatch):
    monkeypatch.setattr(result_views, "PDF_PER_ADDRESS", 2)
    monkeypatch.setattr(guard, "clock", lambda: 1_000_000.0)
    assert [post(client, "ZZZZZZ", {}).status_code for _ in range(3)] == [404, 404, 429]
    assert post(client, "ZZZZZZ", {}, REMOTE_ADDR="192.0.2.40").status_code == 404  # another address


def test_a_ticket_is_good_for_three_downloads(client, closed_session, monkeypatch):
    monkeypatch.setattr(result_views.report, "render_pdf", lambda html: b"%PDF-1.7 test")
    ticket = ticket_for(closed_session, sturing=10)
    statuses = [post(client, closed_session.code, {"ticket": ticket}).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 410]
    assert post(client, closed_session.code, {"ticket": ticket_for(closed_session, sturing=10)}).status_code == 200


def test_an_open_session_gives_no_pdf_even_with_a_ticket(client, workshop_session):
    ticket = ticket_for(workshop_session, sturing=10)
    assert post(client, workshop_session.code, {"ticket": ticket}).status_code == 404


@pytest.mark.django_db(transaction=True)
def test_pdfs_are_rendered_one_at_a_time_and_a_full_queue_is_told_to_come_back(closed_session, monkeypatch):
    rendering, inside, release = threading.Lock(), [], threading.Event()
    most = []

    def slow_render(html: str) -> bytes:
        with rendering:
            inside.append(1)
            most.append(len(inside))
        release.wait(10)
        inside.pop()
        return b"%PDF-1.7 test"

    monkeypatch.setattr(result_views.report, "render_pdf", slow_render)
    statuses: list[int] = []

    def download(number: int) -> None:
        ticket = ticket_for(closed_session, sturing=number)
        statuses.append(post(Client(), closed_session.code, {"ticket": ticket}).status_code)

    threads = [threading.Thread(target=download, args=(n,)) for n in range(result_views.PDF_QUEUE)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while result_views._places._value > 0 and time.monotonic() < deadline:
        time.sleep(0.01)  # polling a counter of this process; no event to await across threads
    assert result_views._places._value == 0
    # The queue is full: the next one is told to come back, at once.
    assert post(Client(), closed_session.code, {"ticket": ticket_for(closed_session, sturing=1)}).status_code == 503
    release.set()
    for thread in threads:
        thread.join(20)
    assert statuses == [200] * result_views.PDF_QUEUE
    assert max(most) == 1


def test_weasyprint_does_not_log_its_progress():
    assert not logging.getLogger("weasyprint.progress").isEnabledFor(logging.INFO)


@pytest.mark.slow
def test_a_hundred_pdfs_in_a_row_leave_memory_where_it_was(client, closed_session, figure, monkeypatch):
    shift = [0.0]
    monkeypatch.setattr(guard, "clock", lambda: time.time() + shift[0])
    process = psutil.Process()
    gc.collect()
    before = process.memory_info().rss
    started = time.monotonic()
    for number in range(100):
        response = post(client, closed_session.code, {"ticket": ticket_for(closed_session, sturing=number)})
        assert response.status_code == 200
        # Each address may download 60 a minute: the test is one address.
        if number % 50 == 49:
            shift[0] += result_views.PDF_WINDOW_SECONDS
    elapsed = time.monotonic() - started
    gc.collect()
    grown = (process.memory_info().rss - before) / 2**20
    figure(f"100 personal PDFs in a row: {elapsed:.1f} s, RSS grew {grown:.0f} MB")
    assert grown < 100


def test_what_the_phone_keeps_after_closing_has_no_median_for_a_slider_with_fewer_than_three_answers(closed_session):
    # The same rule as the PDF's, for the kept result on the phone's screen (and in its storage).
    from asgiref.sync import async_to_sync

    from workshop import aggregates, phone_view
    from workshop.session_info import load_session_info

    info = load_session_info(code=closed_session.code)
    result = aggregates.public_result(aggregates.committed_result(info))
    state = async_to_sync(phone_view.phone_state)(info=info, participant=0, group=None, result=result, language="nl")
    medians = state["reveal"]["rounds"]["1"]["medians"]
    assert medians[SLIDERS[-1]] is None
    assert medians[SLIDERS[0]] == 25
