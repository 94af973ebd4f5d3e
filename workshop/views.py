from __future__ import annotations

import asyncio
from collections.abc import Callable
from functools import wraps
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from workshop import aggregates, guard, services
from workshop import archives as archives_module
from workshop import results as results_module
from workshop.forms import (
    ArchiveFilterForm,
    CapForm,
    ConfirmForm,
    GroupForm,
    GroupIdForm,
    JoinForm,
    MetadataForm,
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
from workshop.models import Archive, Group, Session

View = Callable[..., HttpResponse]


def facilitator_required(view: View) -> View:
    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.has_perm("workshop.add_session"):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def _own_session(request: HttpRequest, code: str) -> Session:
    """The facilitator's own session; someone else's is as unknown as a wrong code."""
    session = Session.objects.select_related("exercise").filter(code=code.upper()).first()
    if session is None or not (request.user.is_superuser or session.facilitator_id == request.user.pk):
        raise Http404
    return session


def _not_found(request: HttpRequest, code: str) -> HttpResponse:
    return render(
        request,
        "workshop/not_found.html",
        {"code": code, "form": JoinForm()},
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
    address = request.META.get("REMOTE_ADDR")
    if guard.blocked(address):
        return render(request, "workshop/too_many.html", status=429)
    info = services.load_session_info(code=code)
    if info is None or not info.session.is_open:
        guard.failed(address)
        return _not_found(request, code)
    # A per-group QR code carries ?g=<group id>; anything else is ignored.
    group = request.GET.get("g", "")
    chosen = int(group) if group.isdigit() and int(group) in dict(info.groups) else None
    return render(request, "workshop/participant.html", {"info": info, "session": info.session, "group": chosen})


# Facilitators --------------------------------------------------------------


@login_required
@require_GET
def start(request: HttpRequest) -> HttpResponse:
    """Where a login lands: facilitators on their sessions, research staff on the archive."""
    if request.user.has_perm("workshop.add_session"):
        return redirect("facilitator_home")
    if request.user.has_perm("workshop.view_archive"):
        return redirect("archive_list")
    raise PermissionDenied


@facilitator_required
@require_http_methods(["GET", "POST"])
def facilitator_home(request: HttpRequest) -> HttpResponse:
    form = SessionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        session = services.create_session(
            facilitator=request.user,
            exercise=form.cleaned_data["exercise"],
            title=form.cleaned_data["title"],
        )
        return redirect("dashboard", code=session.code)
    sessions = Session.objects.filter(facilitator=request.user).select_related("exercise")
    return render(
        request,
        "workshop/facilitator_home.html",
        {"form": form, "sessions": sessions},
        status=400 if form.errors else 200,
    )


def _join_url(request: HttpRequest, session: Session) -> str:
    return request.build_absolute_uri(reverse("join", kwargs={"code": session.code}))


def _live_context(request: HttpRequest, session: Session) -> dict[str, Any]:
    info = services.load_session_info(code=session.code)
    assert info is not None
    result = aggregates.compute(info, services.live_snapshot(info=info))
    return {**aggregates.dashboard_context(info, result), **aggregates.join_context(_join_url(request, session))}


def _controls_context(request: HttpRequest, session: Session, error: str = "") -> dict[str, Any]:
    sliders = list(session.exercise.sliders.order_by("order", "pk"))
    notes = {(n.slider_id, n.round): n.text for n in session.notes.all()}
    groups = list(session.groups.order_by("order", "pk"))
    join_url = _join_url(request, session)
    return {
        "session": session,
        "control_sliders": [
            {
                "slider": s,
                "open": session.slider_open(s.key),
                "opened": s.key in session.open_sliders,
                "shown": s.key in session.shown_sliders,
                "notes": [(r, notes.get((s.pk, r), "")) for r in range(1, session.round + 1)],
            }
            for s in sliders
        ],
        "control_groups": [{"group": g, "join_url": f"{join_url}?g={g.pk}"} for g in groups],
        "timer_form": TimerForm(initial={"minutes": 2, "lock": True}),
        "timer_remaining_ms": None
        if session.timer_ends_at is None
        else max(0, int((session.timer_ends_at - timezone.now()).total_seconds() * 1000)),
        "cap_form": CapForm(initial={"cap": session.max_participants}),
        "group_form": GroupForm(),
        "error": error,
    }


@facilitator_required
@require_GET
def dashboard(request: HttpRequest, code: str) -> HttpResponse:
    session = _own_session(request, code)
    context = {**_live_context(request, session), **_controls_context(request, session)}
    return render(request, "workshop/dashboard.html", context)


@facilitator_required
@require_GET
def screen(request: HttpRequest, code: str) -> HttpResponse:
    session = _own_session(request, code)
    return render(request, "workshop/screen.html", _live_context(request, session))


def _slider_key(session: Session, key: str) -> str:
    if not session.exercise.sliders.filter(key=key).exists():
        raise services.ControlError(_("Unknown slider."))
    return key


def _group(session: Session, group_id: int | None) -> Group | None:
    if group_id is None:
        return None
    group = session.groups.filter(pk=group_id).first()
    if group is None:
        raise services.ControlError(_("Choose a group of this session."))
    return group


def _timer(session: Session, data: dict[str, Any]) -> None:
    services.start_timer(session=session, seconds=int(data["minutes"] * 60), lock_when_done=data["lock"])


def _note(session: Session, data: dict[str, Any]) -> None:
    slider = session.exercise.sliders.filter(key=data["slider"]).first()
    if slider is None:
        raise services.ControlError(_("Unknown slider."))
    services.save_note(session=session, slider=slider, round=data["round"], text=data["text"])


# Every facilitator control: its form and the service call it makes.
CONTROLS: dict[str, tuple[type[forms.Form], Callable[[Session, dict[str, Any]], object]]] = {
    "start": (ConfirmForm, lambda s, d: services.start_positioning(session=s)),
    "step": (StepForm, lambda s, d: services.step_slider(session=s, direction=d["direction"])),
    "slider": (SliderOnOffForm, lambda s, d: services.set_slider_open(session=s, slider=d["slider"], open=d["on"])),
    "discussion": (ConfirmForm, lambda s, d: services.start_discussion(session=s)),
    "round2": (ConfirmForm, lambda s, d: services.start_round_two(session=s)),
    "results": (ResultsForm, lambda s, d: services.set_results(session=s, mode=d["mode"])),
    "slider_results": (
        SliderOnOffForm,
        lambda s, d: services.set_slider_results(session=s, slider=d["slider"], shown=d["on"]),
    ),
    "reveal": (OnOffForm, lambda s, d: services.reveal_profile(session=s, revealed=d["on"])),
    "reveal_phones": (OnOffForm, lambda s, d: services.reveal_to_phones(session=s, revealed=d["on"])),
    "timer": (TimerForm, _timer),
    "timer_stop": (ConfirmForm, lambda s, d: services.stop_timer(session=s)),
    "room": (OnOffForm, lambda s, d: services.set_room_locked(session=s, locked=d["on"])),
    "cap": (CapForm, lambda s, d: services.set_participant_cap(session=s, cap=d["cap"])),
    "screen": (ScreenForm, lambda s, d: services.set_screen(session=s, view=d["view"], group=_group(s, d["group"]))),
    "group_add": (GroupForm, lambda s, d: services.add_group(session=s, name=d["name"])),
    "group_remove": (GroupIdForm, lambda s, d: services.remove_group(session=s, group=_group(s, d["group"]))),
    "reset": (
        ResetForm,
        lambda s, d: services.reset_slider(
            session=s, slider=None if d["slider"] == "all" else _slider_key(s, d["slider"])
        ),
    ),
    "note": (NoteForm, _note),
}


@facilitator_required
@require_POST
def control(request: HttpRequest, code: str, action: str) -> HttpResponse:
    session = _own_session(request, code)
    if action not in CONTROLS:
        raise Http404
    form_class, apply = CONTROLS[action]
    form = form_class(request.POST)
    error = ""
    status = 200
    if not form.is_valid():
        error = " ".join(str(e) for errors in form.errors.values() for e in errors)
        status = 400
    else:
        try:
            apply(session, form.cleaned_data)
        except services.ControlError as refused:
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


@facilitator_required
@require_POST
def close(request: HttpRequest, code: str) -> HttpResponse:
    session = _own_session(request, code)
    if session.is_open:
        services.close_session(session=session)
    if request.htmx:
        return HttpResponseClientRedirect(reverse("results", kwargs={"code": session.code}))
    return redirect("results", code=session.code)


# Results -------------------------------------------------------------------


@facilitator_required
@require_GET
def results(request: HttpRequest, code: str) -> HttpResponse:
    session = _own_session(request, code)
    report = results_module.build(session)
    archive = Archive.objects.filter(session=session).first()
    initial = {f: getattr(session, f) for f in ("organisation_type", "size_class", "region", "context")}
    return render(
        request,
        "workshop/results.html",
        {"session": session, "report": report, "archive": archive, "metadata_form": MetadataForm(initial=initial)},
    )


@facilitator_required
@require_GET
def results_csv(request: HttpRequest, code: str) -> StreamingHttpResponse:
    session = _own_session(request, code)
    response = StreamingHttpResponse(results_module.csv_rows(session), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="schuifoefening-{session.code}.csv"'
    return response


@facilitator_required
@require_GET
def results_json(request: HttpRequest, code: str) -> JsonResponse:
    session = _own_session(request, code)
    response = JsonResponse(results_module.as_json(session), json_dumps_params={"ensure_ascii": False, "indent": 2})
    response["Content-Disposition"] = f'attachment; filename="schuifoefening-{session.code}.json"'
    return response


@facilitator_required
@require_GET
def results_chart(request: HttpRequest, code: str, round: int, slider: str) -> HttpResponse:
    session = _own_session(request, code)
    svg = results_module.chart_svg(session, round=round, slider=slider)
    if svg is None:
        raise Http404
    response = HttpResponse(svg, content_type="image/svg+xml")
    response["Content-Disposition"] = f'attachment; filename="{session.code}-ronde{round}-{slider}.svg"'
    return response


@facilitator_required
@require_POST
def metadata(request: HttpRequest, code: str) -> HttpResponse:
    session = _own_session(request, code)
    form = MetadataForm(request.POST)
    if form.is_valid():
        services.set_metadata(session=session, **form.cleaned_data)
        messages.success(request, _("Saved"))
    else:
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
    return redirect("results", code=session.code)


# Archives (research staff) -------------------------------------------------


def research_required(view: View) -> View:
    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.has_perm("workshop.view_archive"):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return wrapper


def _archive_filters(request: HttpRequest) -> tuple[ArchiveFilterForm, QuerySet[Archive]]:
    form = ArchiveFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    return form, archives_module.filtered(data)


@research_required
@require_GET
def archive_list(request: HttpRequest) -> HttpResponse:
    form, selection = _archive_filters(request)
    page = Paginator(selection, 25).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "overview": archives_module.overview(selection),
        "names": archives_module.profile_names(),
        "exercises": archives_module.exercises(),
        "query": query.urlencode(),
        "plot": {
            "width": aggregates.PLOT_WIDTH,
            "left": aggregates.x_of(0),
            "right": aggregates.x_of(100),
            "mid": aggregates.x_of(50),
        },
    }
    status = 400 if form.is_bound and not form.is_valid() else 200
    return render(request, "workshop/archive_list.html", context, status=status)


@research_required
@require_GET
def archive_detail(request: HttpRequest, pk: int) -> HttpResponse:
    archive = get_object_or_404(Archive.objects.select_related("exercise"), pk=pk)
    return render(
        request, "workshop/archive_detail.html", {"archive": archive, "report": archives_module.detail(archive)}
    )


@research_required
@require_GET
def archive_csv(request: HttpRequest) -> StreamingHttpResponse:
    _form, selection = _archive_filters(request)
    response = StreamingHttpResponse(archives_module.csv_lines(selection), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="schuifoefening-archief.csv"'
    return response


@research_required
@require_GET
def archive_json(request: HttpRequest) -> StreamingHttpResponse:
    _form, selection = _archive_filters(request)
    response = StreamingHttpResponse(archives_module.json_chunks(selection), content_type="application/json")
    response["Content-Disposition"] = 'attachment; filename="schuifoefening-archief.json"'
    return response


@login_required
@require_POST
def archive_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """An AVG request: staff who may delete archives, or the facilitator whose session it was."""
    archive = get_object_or_404(Archive.objects.select_related("session"), pk=pk)
    own = archive.session is not None and archive.session.facilitator_id == request.user.pk
    if not (own or request.user.has_perm("workshop.delete_archive")):
        raise PermissionDenied
    services.delete_archive(archive=archive)
    messages.success(request, _("The archive has been deleted."))
    if own and archive.session is not None:
        return redirect("results", code=archive.session.code)
    return redirect("archive_list")


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
