"""Reading anonymised archives: filters, the overview across sessions, one archive, and exports.

Small-group suppression: a session or group with fewer than ARCHIVE_MIN_GROUP
participants shows medians and counts only; its individual positions are left
out of pages and exports alike.
"""

from __future__ import annotations

import itertools
import json
import statistics
from collections import Counter
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db.models import Q, QuerySet, Sum

from workshop import aggregates
from workshop.models import Archive, ArchivePosition, ArchiveSummary, Exercise, Profile
from workshop.results import csv_stream
from workshop.stats import counts_of, summarize


def filtered(data: dict[str, Any]) -> QuerySet[Archive]:
    archives = Archive.objects.select_related("exercise")
    if data.get("period_from"):
        archives = archives.filter(month__gte=data["period_from"].replace(day=1))
    if data.get("period_to"):
        archives = archives.filter(month__lte=data["period_to"].replace(day=1))
    if data.get("exercise"):
        archives = archives.filter(exercise__slug=data["exercise"])
    if data.get("profile"):
        where = data.get("profile_round") or "any"
        if where == "now":
            archives = archives.filter(profile_now=data["profile"])
        elif where == "desired":
            archives = archives.filter(profile_desired=data["profile"])
        else:
            archives = archives.filter(Q(profile_now=data["profile"]) | Q(profile_desired=data["profile"]))
    for field in ("organisation_type", "size_class", "region"):
        if data.get(field):
            archives = archives.filter(**{field: data[field]})
    return archives


def profile_names() -> dict[str, str]:
    """Profile key -> name, the newest exercise version's wording winning."""
    names: dict[str, str] = {}
    for profile in Profile.objects.order_by("exercise__version"):
        names[profile.key] = profile.name
    return names


def overview(archives: QuerySet[Archive]) -> dict[str, Any]:
    names = profile_names()
    now = Counter(archives.exclude(profile_now="").values_list("profile_now", flat=True))
    desired = Counter(archives.exclude(profile_desired="").values_list("profile_desired", flat=True))
    shifts = Counter(
        archives.exclude(profile_now="").exclude(profile_desired="").values_list("profile_now", "profile_desired")
    )
    keys = sorted(set(now) | set(desired), key=lambda k: -(now[k] + desired[k]))
    tallest = max([*now.values(), *desired.values(), 1])
    sliders = _sliders_across(archives)
    return {
        "sessions": archives.count(),
        "participants": archives.aggregate(total=Sum("participants"))["total"] or 0,
        "profiles": [
            {
                "key": key,
                "name": names.get(key, key),
                "now": now[key],
                "desired": desired[key],
                "now_width": round(100 * now[key] / tallest, 1),
                "desired_width": round(100 * desired[key] / tallest, 1),
            }
            for key in keys
        ],
        "shifts": [
            {"from": names.get(a, a), "to": names.get(b, b), "count": count}
            for (a, b), count in shifts.most_common(5)
            if a != b
        ],
        "sliders": sliders,
    }


def _sliders_across(archives: QuerySet[Archive]) -> list[dict[str, Any]]:
    """Per slider (by key, across versions) and round: the spread of session medians."""
    medians: dict[tuple[str, int], list[float]] = {}
    labels: dict[str, Any] = {}
    rows = ArchiveSummary.objects.filter(archive__in=archives, median__isnull=False).select_related("slider")
    for summary in rows.iterator(chunk_size=2000):
        medians.setdefault((summary.slider.key, summary.round), []).append(summary.median)
        labels.setdefault(summary.slider.key, summary.slider)
    result = []
    for key, slider in labels.items():
        entry: dict[str, Any] = {"slider": slider, "rounds": []}
        for number in (1, 2):
            values = medians.get((key, number), [])
            if not values:
                continue
            q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else (values[0],) * 3
            entry["rounds"].append(
                {
                    "round": number,
                    "sessions": len(values),
                    "median": statistics.median(values),
                    "q1": q1,
                    "q3": q3,
                    "median_x": round(aggregates.x_of(statistics.median(values)), 1),
                    "q1_x": round(aggregates.x_of(q1), 1),
                    "iqr_width": round(aggregates.x_of(q3) - aggregates.x_of(q1), 1),
                }
            )
        result.append(entry)
    return result


def suppressed(participants: int) -> bool:
    return participants < settings.ARCHIVE_MIN_GROUP


def detail(archive: Archive) -> dict[str, Any]:
    """One archive per round: the spread per slider (dots only where the group is large enough), groups, notes."""
    names = profile_names()
    sliders = list(archive.exercise.sliders.order_by("order", "pk"))
    positions = list(archive.positions.values_list("round", "slider_id", "value", "group_id"))
    summaries = {(s.round, s.slider_id): s for s in archive.summaries.all()}
    notes = {(n.round, n.slider_id): n.text for n in archive.notes.all()}
    hide_dots = suppressed(archive.participants)
    plot = {
        "width": aggregates.PLOT_WIDTH,
        "height": aggregates.PLOT_HEIGHT,
        "left": aggregates.x_of(0),
        "right": aggregates.x_of(100),
        "mid": aggregates.x_of(50),
    }
    rounds = []
    for number in range(1, archive.rounds + 1):
        rows = []
        for slider in sliders:
            values = [v for r, s, v, _g in positions if r == number and s == slider.pk and v is not None]
            summary = summarize(values)
            stored = summaries.get((number, slider.pk))
            rows.append(
                {
                    "slider": slider,
                    "summary": summary,
                    "abstained": stored.abstained if stored else 0,
                    "dots": [] if hide_dots else aggregates.dots(counts_of(values)),
                    "bars": [],
                    "median_x": None if summary.median is None else round(aggregates.x_of(summary.median), 1),
                    "q1_x": None if summary.q1 is None else round(aggregates.x_of(summary.q1), 1),
                    "iqr_width": None
                    if summary.q1 is None
                    else round(aggregates.x_of(summary.q3) - aggregates.x_of(summary.q1), 1),  # type: ignore[arg-type]
                    "before_x": None,
                    "before": None,
                    "note": notes.get((number, slider.pk), ""),
                }
            )
        profile = archive.profile_now if number == 1 else archive.profile_desired
        rounds.append({"round": number, "rows": rows, "profile": names.get(profile, profile) if profile else ""})
    groups = []
    for group in archive.groups.all():
        medians = []
        for slider in sliders:
            values = [v for r, s, v, g in positions if r == archive.rounds and s == slider.pk and g == group.pk]
            medians.append((slider, summarize([v for v in values if v is not None]).median))
        groups.append(
            {
                "name": group.name,
                "participants": group.participants,
                "medians": medians,
                "profile": names.get(group.profile, group.profile),
            }
        )
    return {
        "rounds": rounds,
        "groups": groups,
        "suppressed": hide_dots,
        "plot": plot,
        "min_group": settings.ARCHIVE_MIN_GROUP,
    }


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


def exercises() -> list[Exercise]:
    return list(Exercise.objects.filter(archives__isnull=False).distinct().order_by("slug", "version"))
