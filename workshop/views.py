from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

import segno
from asgiref.sync import async_to_sync
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from workshop import aggregates, live, services
from workshop.forms import JoinForm, RevealForm, SessionForm
from workshop.models import Session

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


def qr_svg(url: str) -> SafeString:
    svg = segno.make(url, error="m").svg_inline(scale=8, border=2, dark="#000", light="#fff", omitsize=True)
    return mark_safe(svg)


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
    info = services.load_session_info(code=code)
    if info is None or not info.session.is_open:
        return _not_found(request, code)
    return render(request, "workshop/participant.html", {"info": info, "session": info.session})


# Facilitators --------------------------------------------------------------


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


def _dashboard_context(request: HttpRequest, session: Session) -> dict[str, Any]:
    info = services.load_session_info(code=session.code)
    assert info is not None

    async def snapshot() -> live.Snapshot:
        await services.ensure_live(info=info)
        return await live.get_store().snapshot(info.code, info.slider_keys)

    result = aggregates.compute(info, async_to_sync(snapshot)())
    join_url = request.build_absolute_uri(reverse("join", kwargs={"code": session.code}))
    short_url = join_url.split("://", 1)[-1].rstrip("/")
    return {
        **aggregates.dashboard_context(info, result),
        "join_url": join_url,
        "short_host": short_url.split("/", 1)[0],
        "short_path": "/" + short_url.split("/", 1)[1],
        "qr": qr_svg(join_url),
        "language": translation.get_language(),
    }


@facilitator_required
@require_GET
def dashboard(request: HttpRequest, code: str) -> HttpResponse:
    session = _own_session(request, code)
    return render(request, "workshop/dashboard.html", _dashboard_context(request, session))


@facilitator_required
@require_POST
def reveal(request: HttpRequest, code: str) -> HttpResponse:
    session = _own_session(request, code)
    form = RevealForm(request.POST)
    if not form.is_valid():
        return HttpResponse("Invalid request", status=400)
    services.reveal_profile(session=session, revealed=form.cleaned_data["revealed"])
    if request.htmx:
        return render(request, "workshop/dashboard.html#controls", {"session": session})
    return redirect("dashboard", code=session.code)


@facilitator_required
@require_POST
def close(request: HttpRequest, code: str) -> HttpResponse:
    session = _own_session(request, code)
    if session.is_open:
        services.close_session(session=session)
    if request.htmx:
        return HttpResponseClientRedirect(reverse("dashboard", kwargs={"code": session.code}))
    return redirect("dashboard", code=session.code)


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    try:
        connection.ensure_connection()
        database = "ok"
    except Exception:
        database = "unavailable"
    status = 200 if database == "ok" else 503
    return JsonResponse({"database": database}, status=status)
