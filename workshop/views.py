from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from workshop import access, closing, control_panel, guard, live_view, references_service, session_control
from workshop.access import facilitators_only
from workshop.forms import (
    CapForm,
    ConfirmForm,
    ControlForm,
    GroupForm,
    GroupIdForm,
    GroupRenameForm,
    JoinForm,
    NoteForm,
    OnOffForm,
    ResetForm,
    ResultsForm,
    ScreenForm,
    SessionForm,
    SliderOnOffForm,
    StepForm,
    TimerForm,
)
from workshop.models import Session
from workshop.session_control import ControlError
from workshop.session_info import SessionInfo, info_for, load_session_info


def own_session(request: HttpRequest, code: str) -> Session:
    """A session this user may run (access.may_run); someone else's is as unknown as a wrong code."""
    return get_object_or_404(access.sessions_run_by(request.user).select_related("exercise"), code=code)


def _not_found(request: HttpRequest, code: str, closed: SessionInfo | None = None) -> HttpResponse:
    # `closed`: the session of this code ended; a phone that kept its result reads it in this page's language.
    texts = {"kept_sliders": closed.sliders, "kept_profiles": closed.profiles} if closed else {}
    return render(
        request,
        "workshop/not_found.html",
        {"code": code, "form": JoinForm(), **texts},
        status=404,
    )


# Participants --------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def home(request: HttpRequest) -> HttpResponse:
    form = JoinForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        return redirect("join", code=form.cleaned_data["code"])
    return render(
        request,
        "workshop/home.html",
        {"form": form},
        status=400 if form.errors else 200,
    )


@require_GET
def join(request: HttpRequest, code: str) -> HttpResponse:
    info = load_session_info(code=code)
    found = info is not None and info.refusal("join") is None
    proof = request.GET.get("k", "")  # the QR code's link carries it (guard.proof)
    if not guard.lookup_allowed(request.META.get("REMOTE_ADDR"), found=found, code=code, given_proof=proof):
        return render(request, "workshop/too_many.html", status=429)
    if info is None or not found:
        closed = info if info is not None and info.session.status == Session.Status.CLOSED else None
        return _not_found(request, code, closed)
    # A per-group QR code carries ?g=<group id>; anything else is ignored.
    group = request.GET.get("g", "")
    chosen = int(group) if group.isdigit() and info.has_group(int(group)) else None
    return render(request, "workshop/participant.html", {"info": info, "session": info.session, "group": chosen})


# Facilitators --------------------------------------------------------------


@login_required
@require_GET
def start(request: HttpRequest) -> HttpResponse:
    """Where a login lands: facilitators on their sessions, research staff on the archive."""
    if access.may_facilitate(request.user):
        return redirect("facilitator_home")
    if access.may_research(request.user):
        return redirect("archive_list")
    raise PermissionDenied


@login_required
@facilitators_only
@require_http_methods(["GET", "POST"])
def facilitator_home(request: HttpRequest) -> HttpResponse:
    form = SessionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        session = session_control.create_session(
            facilitator=request.user,
            exercise=form.cleaned_data["exercise"],
            title=form.cleaned_data["title"],
        )
        try:
            references_service.apply(session=session, data=form.cleaned_data)  # context and reference
        except ControlError as refused:
            messages.error(request, str(refused))
        return redirect("dashboard", code=session.code)
    sessions = (
        Session.objects.filter(facilitator=request.user).select_related("exercise").order_by("-created_at", "-pk")
    )
    return render(
        request,
        "workshop/facilitator_home.html",
        {"form": form, "sessions": sessions},
        status=400 if form.errors else 200,
    )


def _join_url(request: HttpRequest, session: Session) -> str:
    return request.build_absolute_uri(reverse("join", kwargs={"code": session.code}))


def _live_context(request: HttpRequest, session: Session, *, screen: bool = False) -> dict[str, Any]:
    """The live partial's context: the same render path as the dashboard socket's updates."""
    info = info_for(session)
    return {
        **live_view.live_context(info, live_view.live_result(info), screen=screen),
        **live_view.join_context(_join_url(request, session), info.groups, code=session.code),
    }


def _controls_context(request: HttpRequest, session: Session, error: str = "") -> dict[str, Any]:
    return control_panel.controls_context(session, join_url=_join_url(request, session), error=error)


@login_required
@facilitators_only
@require_GET
def dashboard(request: HttpRequest, code: str) -> HttpResponse:
    session = own_session(request, code)
    context = {**_live_context(request, session), **_controls_context(request, session)}
    return render(request, "workshop/dashboard.html", context)


@login_required
@facilitators_only
@require_GET
def screen(request: HttpRequest, code: str) -> HttpResponse:
    session = own_session(request, code)
    return render(request, "workshop/screen.html", _live_context(request, session, screen=True))


def _timer(session: Session, data: dict[str, Any]) -> None:
    session_control.start_timer(session=session, seconds=int(data["minutes"] * 60), lock_when_done=data["lock"])


# Every facilitator control: its session-bound form and the service call it makes.
CONTROLS: dict[str, tuple[type[ControlForm], Callable[[Session, dict[str, Any]], object]]] = {
    "start": (ConfirmForm, lambda s, d: session_control.start_positioning(session=s)),
    "step": (StepForm, lambda s, d: session_control.step_slider(session=s, direction=d["direction"])),
    "slider": (
        SliderOnOffForm,
        lambda s, d: session_control.set_slider_open(session=s, slider=d["slider"], open=d["on"]),
    ),
    "discussion": (ConfirmForm, lambda s, d: session_control.start_discussion(session=s)),
    "round2": (ConfirmForm, lambda s, d: session_control.start_round_two(session=s)),
    "results": (ResultsForm, lambda s, d: session_control.set_results(session=s, mode=d["mode"])),
    "slider_results": (
        SliderOnOffForm,
        lambda s, d: session_control.set_slider_results(session=s, slider=d["slider"], shown=d["on"]),
    ),
    "reveal": (OnOffForm, lambda s, d: session_control.reveal_profile(session=s, revealed=d["on"])),
    "reveal_phones": (OnOffForm, lambda s, d: session_control.reveal_to_phones(session=s, revealed=d["on"])),
    "timer": (TimerForm, _timer),
    "timer_stop": (ConfirmForm, lambda s, d: session_control.stop_timer(session=s)),
    "room": (OnOffForm, lambda s, d: session_control.set_room_locked(session=s, locked=d["on"])),
    "cap": (CapForm, lambda s, d: session_control.set_participant_cap(session=s, cap=d["cap"])),
    "screen": (ScreenForm, lambda s, d: session_control.set_screen(session=s, view=d["view"], group=d["group"])),
    "group_add": (GroupForm, lambda s, d: session_control.add_group(session=s, name=d["name"])),
    "group_remove": (GroupIdForm, lambda s, d: session_control.remove_group(session=s, group=d["group"])),
    "group_rename": (
        GroupRenameForm,
        lambda s, d: session_control.rename_group(session=s, group=d["group"], name=d["name"]),
    ),
    "groups_lock": (OnOffForm, lambda s, d: session_control.lock_groups(session=s, locked=d["on"])),
    "reset": (
        ResetForm,
        lambda s, d: session_control.reset_slider(session=s, slider=None if d["slider"] == "all" else d["slider"]),
    ),
    "note": (
        NoteForm,
        lambda s, d: session_control.save_note(session=s, slider=d["slider"], round=d["round"], text=d["text"]),
    ),
}


@login_required
@facilitators_only
@require_POST
def control(request: HttpRequest, code: str, action: str) -> HttpResponse:
    session = own_session(request, code)
    if action not in CONTROLS:
        raise Http404
    form_class, apply = CONTROLS[action]
    form = form_class(request.POST, session=session)
    error = ""
    status = 200
    if not form.is_valid():
        error = " ".join(str(e) for errors in form.errors.values() for e in errors)
        # A slider, group or mode that is not this session's (say, a group removed in another
        # tab) conflicts with the session as it is now; anything else is a malformed request.
        codes = {e.code for errors in form.errors.as_data().values() for e in errors}
        status = 409 if codes == {"invalid_choice"} else 400
    else:
        try:
            apply(session, form.cleaned_data)
        except ControlError as refused:
            error, status = str(refused), 409
    session.refresh_from_db()
    if action == "note" and not error:
        return HttpResponse(_("Saved"))
    if request.htmx:
        # The page's htmx config swaps 4xx responses, so a refusal shows in place.
        return render(
            request, "workshop/dashboard.html#controls", _controls_context(request, session, error), status=status
        )
    if error:
        messages.error(request, error)
    return redirect("dashboard", code=session.code)


@login_required
@facilitators_only
@require_POST
def close(request: HttpRequest, code: str) -> HttpResponse:
    session = own_session(request, code)
    if session.is_open:
        closing.close_session(session=session)
    if request.htmx:
        return HttpResponseClientRedirect(reverse("results", kwargs={"code": session.code}))
    return redirect("results", code=session.code)


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Database and channel layer, each "ok" or "unavailable"; 503 when either is down."""
    report = {"database": "ok", "channel_layer": "ok"}
    try:
        connection.ensure_connection()
    except Exception:
        report["database"] = "unavailable"
    try:
        async_to_sync(_channel_layer_round_trip)()
    except Exception:
        report["channel_layer"] = "unavailable"
    return JsonResponse(report, status=200 if set(report.values()) == {"ok"} else 503)


async def _channel_layer_round_trip() -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.send(channel, {"type": "health.check"})
    async with asyncio.timeout(2):
        await layer.receive(channel)
