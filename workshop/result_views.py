"""A facilitator's results of a session: the page, its downloads, and the context entered for the archive."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from workshop import closing, report, workbook
from workshop import results as results_module
from workshop.access import facilitators_only
from workshop.downloads import attachment
from workshop.forms import MetadataForm
from workshop.models import Archive, Session
from workshop.views import own_session


@login_required
@facilitators_only
@require_GET
def results(request: HttpRequest, code: str) -> HttpResponse:
    session = own_session(request, code)
    report = results_module.build(session)
    archive = Archive.objects.filter(session=session).first()
    initial = {f: getattr(session, f) for f in ("organisation_type", "size_class", "region", "context")}
    return render(
        request,
        "workshop/results.html",
        {"session": session, "report": report, "archive": archive, "metadata_form": MetadataForm(initial=initial)},
    )


# Each download of a session's results: how it is made from the session.
DOWNLOADS: dict[str, Callable[[Session], Any]] = {
    "csv": results_module.csv_rows,
    "json": results_module.as_json,
    "pdf": report.pdf,
    "xlsx": workbook.xlsx,
}


@login_required
@facilitators_only
@require_GET
def results_download(request: HttpRequest, code: str, format: str) -> HttpResponse:
    session = own_session(request, code)
    if format == "csv":
        dialect = request.GET.get("dialect", "international")
        if dialect not in results_module.CSV_DIALECTS:
            return HttpResponseBadRequest(_("Unknown CSV dialect"))
        body = results_module.csv_rows(session, dialect=dialect)
    else:
        body = DOWNLOADS[format](session)
    response = attachment(body, filename=f"schuifoefening-{session.code}.{format}")
    if format == "pdf" and "view" in request.GET:
        # The page's print button: the report opens in the browser's PDF viewer, which prints this very document.
        response["Content-Disposition"] = response["Content-Disposition"].replace("attachment", "inline", 1)
    return response


@login_required
@facilitators_only
@require_GET
def results_chart(request: HttpRequest, code: str, round: int, slider: str) -> HttpResponse:
    session = own_session(request, code)
    svg = results_module.chart_svg(session, round=round, slider=slider)
    if svg is None:
        raise Http404
    return attachment(svg, filename=f"{session.code}-ronde{round}-{slider}.svg")


@login_required
@facilitators_only
@require_POST
def metadata(request: HttpRequest, code: str) -> HttpResponse:
    session = own_session(request, code)
    form = MetadataForm(request.POST)
    if form.is_valid():
        closing.set_metadata(session=session, **form.cleaned_data)
        messages.success(request, _("Saved"))
    else:
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
    return redirect("results", code=session.code)
