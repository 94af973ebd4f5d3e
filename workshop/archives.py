"""Anonymised archives: written once when a session closes, read by research staff, deleted on request
or after the retention period. Exports are in archive_exports.py.

Small-group suppression counts answers: `disclosure` decides, per round, slider
and group, what pages, plots and exports may show (docs/archive-format.md).
"""

from __future__ import annotations

import logging
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy

from workshop import charts, references
from workshop.aggregates import RoundResult, compute
from workshop.live import ABSTAIN, tally
from workshop.models import (
    Archive,
    ArchiveGroup,
    ArchiveNote,
    ArchivePosition,
    ArchiveSummary,
    Exercise,
    Group,
    Note,
    Participant,
    Profile,
    Session,
)
from workshop.session_info import committed, load_session_info
from workshop.stats import Summary, counts_of, summarize

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
            profile_now=_shown_profile(result.rounds[1]),
            profile_desired=_shown_profile(result.rounds[2]) if 2 in result.rounds else "",
            reference=references.record(session.reference_copy),
        )
        groups = {}
        for order, group in enumerate(result.groups):
            groups[group.id] = ArchiveGroup.objects.create(
                archive=archive,
                name=group.name,
                order=order,
                participants=group.size,
                profile=_shown_profile(group.result),
            )
        pseudonym = {pk: number for number, pk in enumerate(sorted(members, key=_join_order(session)), start=1)}
        sliders = {s.key: s for s in info.sliders}
        # Round-true: a group made in round 2 was not there when round 1 was placed.
        since = dict(session.groups.values_list("pk", "created_round"))
        ArchivePosition.objects.bulk_create(
            ArchivePosition(
                archive=archive,
                participant=pseudonym[participant],
                group=groups.get(members[participant]) if round >= since.get(members[participant], 1) else None,
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


def _shown_profile(data: RoundResult) -> str:
    """The nearest profile, kept only when no slider it rests on has too few answers to be shown:
    a profile from one or two answers would tell what those people answered."""
    if not all(summary.n == 0 or may_show(summary.n) for summary in data.summaries.values()):
        return ""
    return data.best or ""


def _join_order(session: Session) -> Callable[[int], tuple[datetime, int]]:
    joined = dict(Participant.objects.filter(session=session).values_list("pk", "created_at"))
    return lambda pk: (joined[pk], pk)


def delete_archive(*, archive: Archive) -> None:
    """Delete an archive for good (an AVG request): its positions, groups, summaries and notes go with it,
    and so do the source session's participants, positions, notes and group names."""
    with transaction.atomic():
        if archive.session_id is not None:
            strip_sessions(sessions=Session.objects.filter(pk=archive.session_id))
        archive.delete()
    log.info("deleted an archive")


def strip_sessions(*, sessions: QuerySet[Session]) -> int:
    """Delete what people entered in these sessions; the Session row stays for the facilitator's list."""
    with transaction.atomic():
        ids = list(sessions.values_list("pk", flat=True))
        Session.objects.filter(pk__in=ids).update(screen_group=None)
        Participant.objects.filter(session_id__in=ids).delete()  # their positions go with them
        Note.objects.filter(session_id__in=ids).delete()
        Group.objects.filter(session_id__in=ids).delete()
    return len(ids)


def purge_sessions(*, now: datetime | None = None) -> int:
    """Strip closed sessions archived more than SESSION_RETENTION_DAYS ago (they are archived when closed)."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.SESSION_RETENTION_DAYS)
    closed = Session.objects.filter(status=Session.Status.CLOSED, closed_at__lt=cutoff)
    with_data = closed.filter(Q(participants__isnull=False) | Q(notes__isnull=False) | Q(groups__isnull=False))
    return strip_sessions(sessions=closed.filter(pk__in=with_data.values("pk")))


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


# What may be shown -----------------------------------------------------------

SMALL_GROUPS = gettext_lazy("small groups")
SMALL = -1  # the key of the merged small groups


def may_show(answers: int) -> bool:
    """The one threshold: below ARCHIVE_MIN_GROUP answers ("geen mening" is none) only the count is shown."""
    return answers >= settings.ARCHIVE_MIN_GROUP


def _summary(values: list[int]) -> Summary:
    if may_show(len(values)):
        return summarize(values)
    return Summary(n=len(values), mean=None, median=None, q1=None, q3=None, stdev=None, histogram=(), consensus=None)


@dataclass(frozen=True)
class ShownGroup:
    name: str
    participants: int
    profile: str
    summaries: dict[tuple[int, int], Summary]  # (round, slider pk)


@dataclass(frozen=True)
class Disclosure:
    """What one archive may show. Its page, plots, CSV and JSON all read this and nothing else."""

    summaries: dict[tuple[int, int], Summary]  # (round, slider pk): the count only below the threshold
    abstained: Counter[tuple[int, int]]
    values: dict[tuple[int, int], list[int]]  # the answers, only where dots may be drawn
    groups: list[ShownGroup]  # named groups, then the small ones merged
    positions: list[tuple[int, str | None, int, int, int | None]]  # pseudonym, group, round, slider pk, value

    def summary(self, round: int, slider: int) -> Summary:
        return self.summaries.get((round, slider)) or _summary([])


def disclosure(archive: Archive) -> Disclosure:
    rows = list(
        archive.positions.order_by("participant", "round", "slider__order", "slider_id").values_list(
            "participant", "group_id", "round", "slider_id", "value"
        )
    )
    answers: dict[tuple[int, int], list[int]] = {}
    abstained: Counter[tuple[int, int]] = Counter()
    answering: dict[int | None, set[int]] = {}
    for participant, group, round, slider, value in rows:
        if value is None:
            abstained[(round, slider)] += 1
        else:
            answers.setdefault((round, slider), []).append(value)
            answering.setdefault(group, set()).add(participant)
    archived = list(archive.groups.all())
    # A group too small to show is merged with the other small ones, and the merged "small groups" are shown
    # only when they are together big enough themselves. Positions never name a small group.
    bucket = {g.pk: (g.pk if may_show(len(answering.get(g.pk, ()))) else SMALL) for g in archived}
    label = {g.pk: g.name if bucket[g.pk] != SMALL else None for g in archived}
    merged_answering = set().union(*(answering.get(pk, set()) for pk, b in bucket.items() if b == SMALL))
    grouped: dict[int, dict[tuple[int, int], list[int]]] = {}
    for _participant, group, round, slider, value in rows:
        if group is not None and value is not None:
            grouped.setdefault(bucket[group], {}).setdefault((round, slider), []).append(value)
    groups = [
        ShownGroup(g.name, g.participants, g.profile, {k: _summary(v) for k, v in grouped.get(g.pk, {}).items()})
        for g in archived
        if bucket[g.pk] != SMALL
    ]
    if SMALL in bucket.values() and may_show(len(merged_answering)):
        merged = sum(g.participants for g in archived if bucket[g.pk] == SMALL)
        groups.append(
            ShownGroup(str(SMALL_GROUPS), merged, "", {k: _summary(v) for k, v in grouped.get(SMALL, {}).items()})
        )
    return Disclosure(
        summaries={key: _summary(values) for key, values in answers.items()},
        abstained=abstained,
        values={key: values for key, values in answers.items() if may_show(len(values))},
        groups=groups,
        positions=[
            (participant, None if group is None else label[group], round, slider, value)
            for participant, group, round, slider, value in rows
            if may_show(len(answers.get((round, slider), ())))
        ],
    )


def detail(archive: Archive) -> dict[str, Any]:
    """One archive: per round the spread per slider, round 2 beside round 1 with the shift, groups, notes."""
    names = profile_names()
    sliders = list(archive.exercise.sliders.order_by("order", "pk"))
    shown = disclosure(archive)
    notes = {(n.round, n.slider_id): n.text for n in archive.notes.all()}
    rounds = []
    for number in range(1, archive.rounds + 1):
        rows = []
        for slider in sliders:
            summary = shown.summary(number, slider.pk)
            before = shown.summary(1, slider.pk).median if number == 2 else None
            rows.append(
                charts.plot_row(
                    slider=slider,
                    counts=counts_of(shown.values.get((number, slider.pk), [])),
                    summary=summary,
                    abstained=shown.abstained[(number, slider.pk)],
                    before=before if summary.median is not None else None,
                    shift=None if before is None or summary.median is None else summary.median - before,
                    note=notes.get((number, slider.pk), ""),
                )
            )
        profile = archive.profile_now if number == 1 else archive.profile_desired
        rounds.append({"round": number, "rows": rows, "profile": names.get(profile, profile) if profile else ""})
    return {
        "rounds": rounds,
        "groups": [
            {
                "name": group.name,
                "participants": group.participants,
                "medians": [(s, group.summaries.get((archive.rounds, s.pk), _summary([])).median) for s in sliders],
                "profile": names.get(group.profile, group.profile),
            }
            for group in shown.groups
        ],
        "suppressed": any(not may_show(s.n) for s in shown.summaries.values()),
        "plot": charts.frame(),
        "min_group": settings.ARCHIVE_MIN_GROUP,
    }


def exercises() -> list[Exercise]:
    return list(Exercise.objects.filter(archives__isnull=False).distinct().order_by("slug", "version"))
