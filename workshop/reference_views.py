"""References' pages: research staff publish one from the archive overview's filter and withdraw it; a
facilitator chooses one for a session until it closes (references_service.py writes)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from workshop import references_service
from workshop.access import facilitators_only, research_only, sessions_run_by
from workshop.archive_views import archive_selection
from workshop.forms import ReferenceForm, SessionReferenceForm
from workshop.models import Reference, Session
from workshop.session_control import ControlError


@login_required
@research_only
@require_POST
def reference_publish(request: HttpRequest) -> HttpResponse:
    """The overview's filter (its query string) frozen as a reference: 400 for a bad filter or form, 409
    below REFERENCE_MIN_SESSIONS; nothing is written then."""
    filters, selection = archive_selection(request)
    form = ReferenceForm(request.POST)
    if selection is None or not form.is_valid():
        return HttpResponse(_("Some filters are not valid."), status=400)
    try:
        reference = references_service.publish(
            name=form.cleaned_data["name"],
            description=form.cleaned_data["description"],
            archives=selection,
            filters=filters.cleaned_data if filters.is_bound else {},
        )
    except references_service.ReferenceRefused as refused:
        return HttpResponse(str(refused), status=409)
    messages.success(request, _("Reference “%(name)s” published.") % {"name": reference.name})
    return redirect("reference_list")


@login_required
@research_only
@require_GET
def reference_list(request: HttpRequest) -> HttpResponse:
    shown = Reference.objects.select_related("exercise")
    return render(request, "workshop/reference_list.html", {"references": shown})


@login_required
@research_only
@require_POST
def reference_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    reference = get_object_or_404(Reference, pk=pk)
    references_service.withdraw(reference=reference)
    messages.success(request, _("Reference “%(name)s” withdrawn.") % {"name": reference.name})
    return redirect("reference_list")


@login_required
@facilitators_only
@require_http_methods(["GET", "POST"])
def session_reference(request: HttpRequest, code: str) -> HttpResponse:
    session: Session = get_object_or_404(sessions_run_by(request.user).select_related("exercise"), code=code)
    initial = {
        "organisation_type": session.organisation_type,
        "size_class": session.size_class,
        "reference": str(session.reference_id or ""),
    }
    form = SessionReferenceForm(request.POST or None, initial=initial, exercise=session.exercise)
    status = 200
    if request.method == "POST":
        if not form.is_valid():
            status = 400
        else:
            try:
                references_service.apply(session=session, data=form.cleaned_data)
            except ControlError as refused:
                form.add_error(None, str(refused))
                status = 409
            else:
                return redirect("dashboard", code=session.code)
    suggestions = references_service.suggested(
        exercise=session.exercise, organisation_type=session.organisation_type, size_class=session.size_class
    )
    context = {"session": session, "form": form, "suggestions": suggestions}
    return render(request, "workshop/session_reference.html", context, status=status)
