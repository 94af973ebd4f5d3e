"""Archive exports for research staff: CSV and JSON (docs/archive-format.md), streamed archive by archive."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from workshop.archives import disclosure, profile_names
from workshop.downloads import csv_stream
from workshop.models import Archive

CSV_HEADER = [
    "archive",
    "month",
    "exercise",
    "version",
    "organisation_type",
    "size_class",
    "region",
    "participant",
    "group",
    "round",
    "slider",
    "value",
]


def _meta(archive: Archive) -> list[Any]:
    return [
        archive.pk,
        archive.month.strftime("%Y-%m"),
        archive.exercise.slug,
        archive.exercise.version,
        archive.organisation_type,
        archive.size_class,
        archive.region,
    ]


def _rows(archives: QuerySet[Archive]) -> Iterator[list[Any]]:
    """Individual positions that `disclosure` allows, archive by archive, never more than one in memory."""
    for archive in archives.order_by("month", "pk").iterator(chunk_size=200):
        keys = dict(archive.exercise.sliders.values_list("pk", "key"))
        meta = _meta(archive)
        for participant, group, round, slider, value in disclosure(archive).positions:
            yield [*meta, f"P{participant}", group or "", round, keys[slider], "" if value is None else value]


def csv_lines(archives: QuerySet[Archive]) -> Iterator[str]:
    return csv_stream(itertools.chain([CSV_HEADER], _rows(archives)), bom=True)


def json_chunks(archives: QuerySet[Archive]) -> Iterator[str]:
    """The documented JSON (docs/archive-format.md), streamed one archive at a time."""
    names = profile_names()
    head = {"format": "schuifoefening-archive/2", "min_group": settings.ARCHIVE_MIN_GROUP}
    yield json.dumps(head)[:-1] + ', "archives": ['

    def profile(key: str) -> dict[str, Any] | None:
        return {"key": key, "name": names.get(key)} if key else None

    first = True
    for archive in archives.order_by("month", "pk").iterator(chunk_size=200):
        shown = disclosure(archive)
        sliders = list(archive.exercise.sliders.order_by("order", "pk"))
        keys = {slider.pk: slider.key for slider in sliders}
        document = {
            "id": archive.pk,
            "month": archive.month.strftime("%Y-%m"),
            "exercise": {"slug": archive.exercise.slug, "version": archive.exercise.version},
            "participants": archive.participants,
            "rounds": archive.rounds,
            "metadata": {
                "organisation_type": archive.organisation_type or None,
                "size_class": archive.size_class or None,
                "region": archive.region or None,
                "context": archive.context or None,
            },
            "profiles": {"now": profile(archive.profile_now), "desired": profile(archive.profile_desired)},
            "reference": archive.reference,
            "groups": [
                {"name": g.name, "participants": g.participants, "profile": g.profile or None} for g in shown.groups
            ],
            "summaries": [
                {
                    "round": round,
                    "slider": slider.key,
                    "n": summary.n,
                    "median": summary.median,
                    "q1": summary.q1,
                    "q3": summary.q3,
                    "abstained": shown.abstained[(round, slider.pk)],
                }
                for round in range(1, archive.rounds + 1)
                for slider in sliders
                if (summary := shown.summary(round, slider.pk)).n or shown.abstained[(round, slider.pk)]
            ],
            "notes": [
                {"round": n.round, "slider": n.slider.key, "text": n.text}
                for n in archive.notes.select_related("slider").order_by("round", "slider__order")
            ],
            "positions": [
                {"participant": f"P{p}", "group": g, "round": r, "slider": keys[s], "value": v}
                for p, g, r, s, v in shown.positions
            ],
        }
        yield ("" if first else ",") + json.dumps(document, ensure_ascii=False)
        first = False
    yield "]}"
