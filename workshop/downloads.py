"""File downloads: one way to answer with an attachment, and the streaming CSV writer."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any

from django.http import HttpResponse, JsonResponse, StreamingHttpResponse

CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "svg": "image/svg+xml",
    "pdf": "application/pdf",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def attachment(body: str | bytes | Iterator[str] | dict[str, Any], *, filename: str) -> HttpResponse:
    """A download named `filename`; the extension picks the content type, an iterator streams."""
    content_type = CONTENT_TYPES[filename.rsplit(".", 1)[-1]]
    response: HttpResponse | StreamingHttpResponse
    if isinstance(body, dict):
        response = JsonResponse(body, json_dumps_params={"ensure_ascii": False, "indent": 2})
    elif isinstance(body, str | bytes):
        response = HttpResponse(body, content_type=content_type)
    else:
        response = StreamingHttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response  # type: ignore[return-value]


# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula gets a leading apostrophe; numbers stay numbers."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def csv_stream(rows: Iterable[Iterable[Any]], *, bom: bool = False, delimiter: str = ",") -> Iterator[str]:
    """CSV text one line at a time, so that a large download never sits in memory whole.

    `bom` starts the file with a byte order mark: without it Excel reads UTF-8 as the local code page.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter)
    # The mark goes with the first line, so that a file is still one chunk per line.
    start = "\ufeff" if bom else ""
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([safe_cell(cell) for cell in row])
        yield start + buffer.getvalue()
        start = ""
