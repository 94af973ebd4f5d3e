"""Research staff's overview across archives: profiles, shifts, per quarter, and the spread of session medians.

Only summaries that `archives.may_show` allows count: a session median from too few answers is left out.
"""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

from django.db.models import QuerySet, Sum

from workshop import charts
from workshop.archives import may_show, profile_names
from workshop.models import Archive, ArchiveSummary

QUARTER_BAR_HEIGHT = 60
QUARTER_BAR_STEP = 24
QUARTER_COLOURS = 6  # .qbar.c0 … .c5 in app.css


def overview(archives: QuerySet[Archive]) -> dict[str, Any]:
    names = profile_names()
    now = Counter(archives.exclude(profile_now="").values_list("profile_now", flat=True))
    desired = Counter(archives.exclude(profile_desired="").values_list("profile_desired", flat=True))
    shifts = Counter(
        archives.exclude(profile_now="").exclude(profile_desired="").values_list("profile_now", "profile_desired")
    )
    # Ties by key: a set's order changes with each process's string hashing, and so would the page.
    keys = sorted(set(now) | set(desired), key=lambda k: (-(now[k] + desired[k]), k))
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
        "quarters": per_quarter(archives, names),
    }


def _sliders_across(archives: QuerySet[Archive]) -> list[dict[str, Any]]:
    """Per slider (by key, across versions) and round: the spread of session medians."""
    medians: dict[tuple[str, int], list[float]] = {}
    labels: dict[str, Any] = {}
    rows = (
        ArchiveSummary.objects.filter(archive__in=archives, median__isnull=False)
        .select_related("slider")
        .order_by("slider__order", "slider__key", "round", "pk")  # the sliders in their order, whatever the disk's
    )
    for summary in rows.iterator(chunk_size=2000):
        if not may_show(summary.n):
            continue
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
                    "median_x": round(charts.x_of(statistics.median(values)), 1),
                    "q1_x": round(charts.x_of(q1), 1),
                    "iqr_width": round(charts.x_of(q3) - charts.x_of(q1), 1),
                }
            )
        result.append(entry)
    return result


def per_quarter(archives: QuerySet[Archive], names: dict[str, str]) -> list[dict[str, Any]]:
    """Per quarter, how often each profile came out now (round 1): bars of one small server-drawn chart."""
    counts = Counter(
        (month.year, (month.month - 1) // 3 + 1, profile)
        for month, profile in archives.exclude(profile_now="").values_list("month", "profile_now").iterator()
    )
    tallest = max(counts.values(), default=1)
    # One colour per profile across every quarter, the most frequent first.
    totals = Counter[str]()
    for (_year, _quarter, profile), count in counts.items():
        totals[profile] += count
    colour = {profile: rank % QUARTER_COLOURS for rank, (profile, _n) in enumerate(totals.most_common())}
    quarters: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for (year, quarter, profile), count in sorted(counts.items()):
        bars = quarters.setdefault((year, quarter), [])
        bars.append(
            {
                "x": QUARTER_BAR_STEP * len(bars) + 2,
                "colour": colour[profile],
                "key": profile,
                "name": names.get(profile, profile),
                "count": count,
                "height": round(QUARTER_BAR_HEIGHT * count / tallest, 1),
                "y": round(QUARTER_BAR_HEIGHT - QUARTER_BAR_HEIGHT * count / tallest, 1),
            }
        )
    return [
        {"label": f"{year} Q{quarter}", "bars": bars, "width": QUARTER_BAR_STEP * len(bars) + 4}
        for (year, quarter), bars in quarters.items()
    ]
