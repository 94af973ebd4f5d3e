"""Anonymised archives: written once when a session closes, read by research staff, deleted on request
or after the retention period. Exports are in archive_exports.py.

Small-group suppression: a session or group with fewer than ARCHIVE_MIN_GROUP
participants shows medians and counts only; its individual positions are left
out of pages and exports alike.
"""

from __future__ import annotations

import logging
import secrets
import statistics
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from workshop import charts
from workshop.aggregates import compute
from workshop.live import ABSTAIN, tally
from workshop.models import (
    Archive,
    ArchiveGroup,
    ArchiveNote,
    ArchivePosition,
    ArchiveSummary,
    Exercise,
    Participant,
    Profile,
    Session,
)
from workshop.session_info import committed, load_session_info
from workshop.stats import counts_of, summarize

log = logging.getLogger(__name__)


# Writing -------------------------------------------------------------------


def archive_session(*, session: Session) -> Archive:
    """Copy a closed session into an anonymised archive, once.

    Tokens become pseudonyms P1, P2... in order of joining; times become the
    month; only metadata the facilitator entered is kept. The phones' token
    hashes are then overwritten, so nothing links the archive to a phone.
    """
    with transaction.atomic():
        existing = Archive.objects.filter(session=session).first()
        if existing is not None:
            return existing
        info = load_session_info(code=session.code)
        assert info is not None
        members, positions = committed(session.pk)
        result = compute(info, tally(members, positions))
        session = Session.objects.get(pk=session.pk)
        archive = Archive.objects.create(
            exercise_id=session.exercise_id,
            session=session,
            month=timezone.localtime(session.created_at).date().replace(day=1),
            participants=len(members),
            rounds=session.round,
            organisation_type=session.organisation_type,
            size_class=session.size_class,
            region=session.region,
            context=session.context,
            profile_now=result.rounds[1].best or "",
            profile_desired=(result.rounds[2].best or "") if 2 in result.rounds else "",
        )
        groups = {}
        for order, group in enumerate(result.groups):
            groups[group.id] = ArchiveGroup.objects.create(
                archive=archive, name=group.name, order=order, participants=group.size, profile=group.result.best or ""
            )
        pseudonym = {pk: number for number, pk in enumerate(sorted(members, key=_join_order(session)), start=1)}
        sliders = {s.key: s for s in info.sliders}
        ArchivePosition.objects.bulk_create(
            ArchivePosition(
                archive=archive,
                participant=pseudonym[participant],
                group=groups.get(members[participant]),
                round=round,
                slider=sliders[key],
                value=None if value == ABSTAIN else value,
            )
            for round, participant, key, value in positions
        )
        ArchiveSummary.objects.bulk_create(
            ArchiveSummary(
                archive=archive,
                round=round,
                slider=sliders[key],
                n=summary.n,
                median=summary.median,
                q1=summary.q1,
                q3=summary.q3,
                abstained=data.abstained[key],
            )
            for round, data in result.rounds.items()
            for key, summary in data.summaries.items()
        )
        ArchiveNote.objects.bulk_create(
            ArchiveNote(archive=archive, slider_id=note.slider_id, round=note.round, text=note.text)
            for note in session.notes.exclude(text="")
        )
        # Nothing may lead from the archive back to a phone's token.
        for participant in Participant.objects.filter(session=session):
            participant.token_hash = secrets.token_hex(32)
            participant.save(update_fields=["token_hash"])
    log.info("archived session=%s", session.code)
    return archive


def _join_order(session: Session) -> Callable[[int], tuple[datetime, int]]:
    joined = dict(Participant.objects.filter(session=session).values_list("pk", "created_at"))
    return lambda pk: (joined[pk], pk)


def delete_archive(*, archive: Archive) -> None:
    """Delete an archive for good (an AVG request): its positions, groups, summaries and notes go with it."""
    with transaction.atomic():
        archive.delete()
    log.info("deleted an archive")


def purge_archives(*, now: datetime | None = None) -> int:
    """Delete archives older than ARCHIVE_RETENTION_DAYS (by the month they ran in)."""
    now = now or timezone.now()
    cutoff = (now - timedelta(days=settings.ARCHIVE_RETENTION_DAYS)).date()
    with transaction.atomic():
        _total, deleted = Archive.objects.filter(month__lt=cutoff.replace(day=1)).delete()
    return deleted.get("workshop.Archive", 0)


# Reading -------------------------------------------------------------------


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
                    "median_x": round(charts.x_of(statistics.median(values)), 1),
                    "q1_x": round(charts.x_of(q1), 1),
                    "iqr_width": round(charts.x_of(q3) - charts.x_of(q1), 1),
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
    rounds = []
    for number in range(1, archive.rounds + 1):
        rows = []
        for slider in sliders:
            values = [v for r, s, v, _g in positions if r == number and s == slider.pk and v is not None]
            stored = summaries.get((number, slider.pk))
            rows.append(
                charts.plot_row(
                    slider=slider,
                    counts=counts_of(values),
                    summary=summarize(values),
                    abstained=stored.abstained if stored else 0,
                    show_positions=not hide_dots,
                    note=notes.get((number, slider.pk), ""),
                )
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
        "plot": charts.frame(),
        "min_group": settings.ARCHIVE_MIN_GROUP,
    }


def exercises() -> list[Exercise]:
    return list(Exercise.objects.filter(archives__isnull=False).distinct().order_by("slug", "version"))
