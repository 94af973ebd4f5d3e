import io
import json
import re

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from workshop import closing, session_control
from workshop.models import CODE_ALPHABET, Session

pytestmark = pytest.mark.django_db


def test_home_has_a_field_for_the_code(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b'name="code"' in response.content


def test_a_typed_code_leads_to_the_participant_page_whatever_its_case(client, workshop_session):
    response = client.post("/", {"code": f" {workshop_session.code.lower()[:3]}-{workshop_session.code.lower()[3:]} "})
    assert response.status_code == 302
    assert response["Location"] == f"/j/{workshop_session.code}/"


def test_a_malformed_code_is_refused_with_a_message(client):
    response = client.post("/", {"code": "12"})
    assert response.status_code == 400
    assert "K7MPQ3" in response.content.decode()


def test_the_participant_page_shows_every_slider_with_both_poles(client, workshop_session):
    response = client.get(f"/j/{workshop_session.code.lower()}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('type="range"') == 5
    for slider in workshop_session.exercise.sliders.all():
        assert slider.left_nl in html and slider.right_nl in html
    assert "reconstructie" not in html  # the source note is for the facilitator's pages only


def test_an_unknown_code_gets_a_friendly_404(client):
    response = client.get("/j/ZZZZZZ/")
    assert response.status_code == 404
    assert "ZZZZZZ" in response.content.decode()
    assert b'name="code"' in response.content


def test_a_closed_session_gets_the_same_404(client, workshop_session):
    closing.close_session(session=workshop_session)
    assert client.get(f"/j/{workshop_session.code}/").status_code == 404


def test_pages_are_in_english_on_request(client, workshop_session):
    client.cookies["django_language"] = "en"
    html = client.get(f"/j/{workshop_session.code}/").content.decode()
    assert "Steering" in html and "Decentralised" in html


def test_facilitator_pages_need_a_login(client, workshop_session):
    for url in ["/f/", f"/f/s/{workshop_session.code}/"]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")


def test_an_account_without_facilitator_rights_is_refused(rosa):
    client = Client()
    client.force_login(rosa)
    assert client.get("/f/").status_code == 403


def test_a_facilitator_creates_a_session_and_lands_on_its_dashboard(fenna_client, exercise):
    response = fenna_client.post("/f/", {"title": "Wijkteam Zuid", "exercise": exercise.pk})
    session = Session.objects.get(title="Wijkteam Zuid")
    assert response.status_code == 302
    assert response["Location"] == f"/f/s/{session.code}/"
    assert re.fullmatch(f"[{CODE_ALPHABET}]{{6}}", session.code)


def test_a_session_needs_a_title(fenna_client, exercise):
    response = fenna_client.post("/f/", {"title": "  ", "exercise": exercise.pk})
    assert response.status_code == 400
    assert not Session.objects.exists()


def test_the_home_lists_only_my_own_sessions(fenna_client, otto, exercise, workshop_session):
    session_control.create_session(facilitator=otto, exercise=exercise, title="Otto's sessie")
    html = fenna_client.get("/f/").content.decode()
    assert "Wijkteam Noord" in html
    assert "Otto&#x27;s sessie" not in html and "Otto's sessie" not in html


def test_the_dashboard_shows_qr_code_and_short_url(fenna_client, workshop_session):
    html = fenna_client.get(f"/f/s/{workshop_session.code}/").content.decode()
    assert "<svg" in html and "<path" in html  # the server-rendered QR code
    assert workshop_session.code in html
    # Host and path each unbreakable, with the one break allowed between them.
    assert f"<span>testserver</span><wbr><span>/j/{workshop_session.code}</span>" in html
    assert 'id="live"' in html


def test_another_facilitator_cannot_see_or_control_my_session(otto, workshop_session):
    client = Client()
    client.force_login(otto)
    assert client.get(f"/f/s/{workshop_session.code}/").status_code == 404
    assert client.post(f"/f/s/{workshop_session.code}/do/reveal/", {"on": "1"}).status_code == 404
    assert client.post(f"/f/s/{workshop_session.code}/close/").status_code == 404
    workshop_session.refresh_from_db()
    assert workshop_session.is_open and not workshop_session.profile_revealed


def test_a_superuser_can_see_any_session(admin_user_persona, workshop_session):
    client = Client()
    client.force_login(admin_user_persona)
    assert client.get(f"/f/s/{workshop_session.code}/").status_code == 200


def test_reveal_by_htmx_returns_the_controls_partial(fenna_client, workshop_session):
    session_control.start_discussion(session=workshop_session)
    response = fenna_client.post(f"/f/s/{workshop_session.code}/do/reveal/", {"on": "1"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert b'id="controls"' in response.content and b"<html" not in response.content
    workshop_session.refresh_from_db()
    assert workshop_session.profile_revealed


def test_reveal_refuses_a_bad_value_and_changes_nothing(fenna_client, workshop_session):
    response = fenna_client.post(f"/f/s/{workshop_session.code}/do/reveal/", {"on": "maybe"})
    assert response.status_code == 302  # without htmx: back to the panel, with a message
    workshop_session.refresh_from_db()
    assert not workshop_session.profile_revealed


def test_controls_refuse_get(fenna_client, workshop_session):
    assert fenna_client.get(f"/f/s/{workshop_session.code}/do/reveal/").status_code == 405


def test_controls_need_a_csrf_token(fenna, workshop_session):
    client = Client(enforce_csrf_checks=True)
    client.force_login(fenna)
    assert client.post(f"/f/s/{workshop_session.code}/close/").status_code == 403


def test_closing_a_session_stops_its_code(fenna_client, client, workshop_session):
    response = fenna_client.post(f"/f/s/{workshop_session.code}/close/", HTTP_HX_REQUEST="true")
    assert response["HX-Redirect"] == f"/f/s/{workshop_session.code}/results/"
    workshop_session.refresh_from_db()
    assert workshop_session.status == "closed" and workshop_session.closed_at
    assert client.get(f"/j/{workshop_session.code}/").status_code == 404


def test_create_session_command_prints_one_json_line(fenna, exercise):
    out = io.StringIO()
    call_command("create_session", "--facilitator", "fenna", "--title", "Raadzaal", stdout=out)
    line = json.loads(out.getvalue())
    session = Session.objects.get(code=line["code"])
    assert session.title == "Raadzaal" and session.facilitator == fenna
    assert line["join_url"].endswith(f"/j/{session.code}/")
    assert line["dashboard_url"].endswith(f"/f/s/{session.code}/")


def test_create_session_command_refuses_an_unknown_facilitator(exercise):
    with pytest.raises(CommandError, match="no user 'niemand'"):
        call_command("create_session", "--facilitator", "niemand")


def test_ensure_facilitator_creates_an_account_once(db, monkeypatch):
    monkeypatch.delenv("DJANGO_SUPERUSER_USERNAME", raising=False)
    monkeypatch.delenv("DJANGO_SUPERUSER_PASSWORD", raising=False)
    first, second = io.StringIO(), io.StringIO()
    call_command("ensure_facilitator", stdout=first)
    call_command("ensure_facilitator", stdout=second)
    password = re.search(r"Password: (\S+)", first.getvalue()).group(1)
    assert Client().login(username="facilitator", password=password)
    assert "Password" not in second.getvalue()


def test_ensure_facilitator_takes_the_account_from_the_environment(db, monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_USERNAME", "anna")
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "een-lang-wachtwoord")
    call_command("ensure_facilitator", stdout=io.StringIO())
    assert Client().login(username="anna", password="een-lang-wachtwoord")


def test_healthz_reports_the_database_and_the_channel_layer(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "channel_layer": "ok"}


def test_healthz_answers_503_and_names_a_database_that_is_down(client, monkeypatch):
    from django.db import connection

    def refuse() -> None:
        raise OSError("connection refused")

    monkeypatch.setattr(connection, "ensure_connection", refuse)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"database": "unavailable", "channel_layer": "ok"}


def test_healthz_answers_503_and_names_a_channel_layer_that_is_down(client, settings):
    from tests.servers import free_port

    # A Redis layer on a port where nothing listens: every round trip fails at once.
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{free_port()}/0"]},
        }
    }
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"database": "ok", "channel_layer": "unavailable"}


def test_pages_carry_a_content_security_policy_without_inline_script(client):
    policy = client.get("/")["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in policy
    assert "connect-src 'self' ws://testserver wss://testserver" in policy


def test_no_template_has_an_inline_script():
    from tests.conftest import ROOT

    for template in (ROOT / "templates").rglob("*.html"):
        text = template.read_text()
        assert "<script>" not in text and " onclick=" not in text and " onsubmit=" not in text, template
