"""Archive exports for research staff: CSV and JSON (docs/archive-format.md), streamed archive by archive."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from workshop.archives import profile_names, suppressed
from workshop.downloads import csv_stream
from workshop.models import Archive, ArchivePosition

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


def _rows(archives: QuerySet[Archive]) -> Iterator[list[Any]]:
    """Individual positions, archive by archive, never more than one archive in memory."""
    for archive in archives.order_by("month", "pk").iterator(chunk_size=200):
        if suppressed(archive.participants):
            continue
        small = {g.pk for g in archive.groups.all() if suppressed(g.participants)}
        names = {g.pk: g.name for g in archive.groups.all()}
        meta = [
            archive.pk,
            archive.month.strftime("%Y-%m"),
            archive.exercise.slug,
            archive.exercise.version,
            archive.organisation_type,
            archive.size_class,
            archive.region,
        ]
        positions = (
            ArchivePosition.objects.filter(archive=archive)
            .order_by("participant", "round", "slider__order")
            .values_list("participant", "group_id", "round", "slider__key", "value")
        )
        for participant, group, round, slider, value in positions.iterator(chunk_size=2000):
            group_name = "" if group is None or group in small else names[group]
            yield [*meta, f"P{participant}", group_name, round, slider, "" if value is None else value]


def csv_lines(archives: QuerySet[Archive]) -> Iterator[str]:
    return csv_stream(itertools.chain([CSV_HEADER], _rows(archives)))


def json_chunks(archives: QuerySet[Archive]) -> Iterator[str]:
    """The documented JSON (docs/archive-format.md), streamed one archive at a time."""
    names = profile_names()
    head = {"format": "schuifoefening-archive/1", "min_group": settings.ARCHIVE_MIN_GROUP}
    yield json.dumps(head)[:-1] + ', "archives": ['

    def profile(key: str) -> dict[str, Any] | None:
        return {"key": key, "name": names.get(key)} if key else None

    first = True
    for archive in archives.order_by("month", "pk").iterator(chunk_size=200):
        hide = suppressed(archive.participants)
        small = {g.pk for g in archive.groups.all() if suppressed(g.participants)}
        groups = {g.pk: g.name for g in archive.groups.all()}
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
            "profiles": {
                "now": {"key": archive.profile_now, "name": names.get(archive.profile_now)}
                if archive.profile_now
                else None,
                "desired": {"key": archive.profile_desired, "name": names.get(archive.profile_desired)}
                if archive.profile_desired
                else None,
            },
            "groups": [
                {"name": g.name, "participants": g.participants, "profile": g.profile or None}
                for g in archive.groups.all()
            ],
            "summaries": [
                {
                    "round": s.round,
                    "slider": s.slider.key,
                    "n": s.n,
                    "median": s.median,
                    "q1": s.q1,
                    "q3": s.q3,
                    "abstained": s.abstained,
                }
                for s in archive.summaries.select_related("slider").order_by("round", "slider__order")
            ],
            "notes": [
                {"round": n.round, "slider": n.slider.key, "text": n.text}
                for n in archive.notes.select_related("slider").order_by("round", "slider__order")
            ],
            "positions": None
            if hide
            else [
                {
                    "participant": f"P{p}",
                    "group": None if g is None or g in small else groups[g],
                    "round": r,
                    "slider": s,
                    "value": v,
                }
                for p, g, r, s, v in archive.positions.order_by("participant", "round", "slider__order").values_list(
                    "participant", "group_id", "round", "slider__key", "value"
                )
            ],
        }
        yield ("" if first else ",") + json.dumps(document, ensure_ascii=False)
        first = False
    yield "]}"
