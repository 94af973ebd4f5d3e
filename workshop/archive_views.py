"""Research staff's pages: the archive across sessions, one archive, exports, and deletion on request."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from workshop import access, archive_exports, archive_overview, archives, charts, references_service
from workshop.access import research_only
from workshop.downloads import attachment
from workshop.forms import ArchiveFilterForm, ReferenceForm
from workshop.models import Archive


def archive_selection(request: HttpRequest) -> tuple[ArchiveFilterForm, QuerySet[Archive] | None]:
    """The filtered archives, or None for a filter that is not valid: the page and every export answer 400."""
    form = ArchiveFilterForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        return form, None
    return form, archives.filtered(form.cleaned_data if form.is_bound else {})


@login_required
@research_only
@require_GET
def archive_list(request: HttpRequest) -> HttpResponse:
    form, selection = archive_selection(request)
    status = 200 if selection is not None else 400
    selection = selection if selection is not None else Archive.objects.none()
    answers = Count("positions", filter=Q(positions__value__isnull=False))
    # A GROUP BY drops Meta.ordering: without its own total order a page could repeat or skip rows.
    listed = selection.annotate(answers=answers).order_by("-month", "-pk")
    page = Paginator(listed, 25).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "overview": archive_overview.overview(selection),
        "names": archives.profile_names(),
        "exercises": archives.exercises(),
        "query": query.urlencode(),
        "plot": charts.frame(),
        # Publishing this filter as a reference (reference_views.reference_publish)
        "preview": references_service.preview(archives=selection) if status == 200 else None,
        "reference_form": ReferenceForm(),
        "reference_min": settings.REFERENCE_MIN_SESSIONS,
    }
    return render(request, "workshop/archive_list.html", context, status=status)


@login_required
@research_only
@require_GET
def archive_detail(request: HttpRequest, pk: int) -> HttpResponse:
    archive = get_object_or_404(Archive.objects.select_related("exercise"), pk=pk)
    return render(request, "workshop/archive_detail.html", {"archive": archive, "report": archives.detail(archive)})


EXPORTS = {"csv": archive_exports.csv_lines, "json": archive_exports.json_chunks}


@login_required
@research_only
@require_GET
def archive_export(request: HttpRequest, format: str) -> HttpResponse:
    _form, selection = archive_selection(request)
    if selection is None:
        return HttpResponseBadRequest(_("Some filters are not valid."))
    return attachment(EXPORTS[format](selection), filename=f"schuifoefening-archief.{format}")


@login_required
@require_POST
def archive_delete(request: HttpRequest, pk: int) -> HttpResponse:
    """An AVG request (access.may_delete_archive); the facilitator goes back to the session's results."""
    archive = get_object_or_404(Archive.objects.select_related("session"), pk=pk)
    if not access.may_delete_archive(request.user, archive):
        raise PermissionDenied
    session = archive.session
    archives.delete_archive(archive=archive)
    messages.success(request, _("The archive has been deleted."))
    if session is not None and access.may_run(request.user, session):
        return redirect("results", code=session.code)
    return redirect("archive_list")
