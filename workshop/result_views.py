"""A facilitator's results of a session: the page, its downloads, and the context entered for the archive."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from workshop import closing, guard, report, result_ticket, workbook
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


# One phone's result PDF after the session closed ----------------------------------------------

# Per address: a hall behind one NAT address downloads its PDFs at the end, each a few times at most.
PDF_PER_ADDRESS = 60
PDF_WINDOW_SECONDS = 60
# One PDF is rendered at a time per process, always in the same thread: WeasyPrint takes a core for
# about a quarter of a second each, and many at once in many threads took gigabytes that stayed.
# At most PDF_QUEUE requests wait their turn (without a database connection: none is opened before
# it); past that, or after PDF_WAIT_SECONDS, a request is told to try again.
PDF_QUEUE = 8
PDF_WAIT_SECONDS = 20
_renderer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="personal-pdf")
_turn = threading.Lock()
_places = threading.BoundedSemaphore(PDF_QUEUE)  # the waiting line, the one rendering included
# The only fields the phone's form sends (templates/workshop/_kept_result.html).
PDF_FIELDS = {"csrfmiddlewaretoken", "ticket"}


def _refused(request: HttpRequest, status: int, message: str) -> HttpResponse:
    return render(request, "workshop/result_refused.html", {"message": message}, status=status)


@require_POST
def my_result(request: HttpRequest, code: str) -> HttpResponse:
    """A closed session's result for one phone, made from the ticket that phone got when it closed
    (result_ticket.py): its own positions beside the room's medians. Without a valid ticket the answer
    is the same whether the code exists or not (nothing is looked up), and it counts in the join guard."""
    address = request.META.get("REMOTE_ADDR")
    fields = request.POST
    if set(fields) - PDF_FIELDS or any(len(fields.getlist(name)) > 1 for name in fields):
        return _refused(request, 400, _("This request is not a result download."))
    if not guard.within(address, name="pdf", limit=PDF_PER_ADDRESS, seconds=PDF_WINDOW_SECONDS):
        return _refused(request, 429, _("Too many downloads from this network. Try again in a minute."))
    read = result_ticket.read(fields.get("ticket", ""), code=code)
    if read is None:
        if not guard.lookup_allowed(address, found=False, code=code):
            return render(request, "workshop/too_many.html", status=429)
        no_ticket = _("No result can be made from this. Open the session's page on the phone you took part with.")
        return _refused(request, 404, no_ticket)
    nonce, own = read
    retention = int(timedelta(days=settings.SESSION_RETENTION_DAYS).total_seconds())
    if not guard.counted(f"ticket:{nonce}", result_ticket.USES, retention):
        return _refused(request, 410, _("This result has already been downloaded a few times from this phone."))
    pdf = _render_in_turn(code, own)
    if pdf is None:
        return _refused(request, 503, _("Many results are being made right now. Try again in a moment."))
    if pdf == b"":
        return _refused(request, 404, _("This session's results have been deleted."))
    return attachment(pdf, filename=f"schuifoefening-{code}-mijn-resultaat.pdf")


def _render_in_turn(code: str, own: result_ticket.Own) -> bytes | None:
    """The PDF, one at a time in this process; None when too many wait; b"" when the session is gone."""
    if not _places.acquire(blocking=False):
        return None
    try:
        if not _turn.acquire(timeout=PDF_WAIT_SECONDS):
            return None
        try:
            session = Session.objects.filter(code=code, status=Session.Status.CLOSED).select_related("exercise").first()
            if session is None:
                return b""
            html = report.personal_html(session=session, own=own)
            return _renderer.submit(report.render_pdf, html).result()
        finally:
            _turn.release()
    finally:
        _places.release()
