"""References: research staff publish and withdraw them; a facilitator chooses one for a session.

The computation is references.py (pure); this module reads archives for it and is the only writer of
`Reference` rows and of a session's reference. docs/archive-format.md, "References", says what a reference
can and cannot say.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from workshop import references
from workshop.models import Archive, ArchiveSummary, Exercise, Reference, Session
from workshop.session_control import ControlError, guarded

log = logging.getLogger(__name__)

# The overview's filters a reference keeps for its record (never a municipality: there is none to keep).
KEPT_FILTERS = ("period_from", "period_to", "exercise", "profile", "profile_round", "organisation_type", "size_class")


class ReferenceRefused(Exception):
    """A reference that may not be published; the message says why."""


@dataclass(frozen=True)
class Preview:
    exercise: Exercise | None
    data: dict[str, Any]
    archives: list[int]  # the archives of that version in the selection (counted or not)
    other_versions: int  # archives of the selection left out: another exercise or version

    @property
    def sessions(self) -> int:
        return int(self.data["sessions"])

    @property
    def publishable(self) -> bool:
        return self.exercise is not None and references.publishable(self.data, settings.REFERENCE_MIN_SESSIONS)


def _figures(archive_ids: list[int], sliders: list[str]) -> list[references.SessionFigures]:
    summaries: dict[int, dict[tuple[int, str], tuple[int, float | None]]] = {pk: {} for pk in archive_ids}
    rows = ArchiveSummary.objects.filter(archive_id__in=archive_ids).values_list(
        "archive_id", "round", "slider__key", "n", "median"
    )
    for archive, round, key, n, median in rows.iterator(chunk_size=2000):
        summaries[archive][(round, key)] = (n, median)
    profiles = Archive.objects.filter(pk__in=archive_ids).values_list(
        "pk", "exercise_id", "profile_now", "profile_desired"
    )
    return [
        references.SessionFigures(exercise=exercise, summaries=summaries[pk], profiles={1: now, 2: desired})
        for pk, exercise, now, desired in profiles
    ]


def preview(*, archives: QuerySet[Archive]) -> Preview:
    """What publishing this selection would freeze: the sessions of its most frequent exercise version only."""
    versions = Counter(archives.values_list("exercise_id", flat=True))
    if not versions:
        return Preview(None, {"sessions": 0, "rounds": {}}, [], 0)
    chosen = max(versions, key=lambda pk: (versions[pk], pk))
    exercise = Exercise.objects.get(pk=chosen)
    ids = sorted(archives.filter(exercise_id=chosen).values_list("pk", flat=True))
    sliders = list(exercise.sliders.order_by("order", "pk").values_list("key", flat=True))
    data = references.build(_figures(ids, sliders), sliders=sliders, min_answers=settings.ARCHIVE_MIN_GROUP)
    return Preview(exercise, data, ids, sum(versions.values()) - versions[chosen])


def publish(*, name: str, description: str, archives: QuerySet[Archive], filters: dict[str, Any]) -> Reference:
    name, description = name.strip(), description.strip()
    if not name:
        raise ReferenceRefused(_("Give the reference a name."))
    shown = preview(archives=archives)
    if not shown.publishable or shown.exercise is None:
        raise ReferenceRefused(
            _("A reference needs at least %(min)d sessions that pass the archives' suppression; this one has %(n)d.")
            % {"min": settings.REFERENCE_MIN_SESSIONS, "n": shown.sessions}
        )
    kept = {key: str(filters[key]) for key in KEPT_FILTERS if filters.get(key)}
    reference = Reference.objects.create(
        name=name,
        description=description,
        exercise=shown.exercise,
        filters=kept,
        organisation_type=filters.get("organisation_type") or "",
        size_class=filters.get("size_class") or "",
        sessions=shown.sessions,
        data=shown.data,
        archives=shown.archives,
    )
    log.info("published reference=%s sessions=%d", reference.pk, reference.sessions)
    return reference


def withdraw(*, reference: Reference) -> None:
    """No new session can choose it; sessions that chose it keep their copy."""
    Reference.objects.filter(pk=reference.pk, withdrawn_at__isnull=True).update(withdrawn_at=timezone.now())
    log.info("withdrew reference=%s", reference.pk)


def published(*, exercise: Exercise | None = None) -> QuerySet[Reference]:
    chosen = Reference.objects.filter(withdrawn_at__isnull=True)
    return chosen.filter(exercise=exercise) if exercise is not None else chosen


def suggested(*, exercise: Exercise, organisation_type: str, size_class: str) -> list[Reference]:
    """The references a session may choose, the best match of its context first: same size class and kind,
    then one of them, then the rest; newest first within each."""

    def score(reference: Reference) -> int:
        same_kind = bool(organisation_type) and reference.organisation_type == organisation_type
        same_size = bool(size_class) and reference.size_class == size_class
        return int(same_kind) + int(same_size)

    found = list(published(exercise=exercise))
    return sorted(found, key=lambda r: -score(r))


def best_match(*, exercise: Exercise, organisation_type: str, size_class: str) -> Reference | None:
    """The suggestion for a new session that asked for one: a reference matching its size class and kind."""
    for reference in suggested(exercise=exercise, organisation_type=organisation_type, size_class=size_class):
        if reference.organisation_type == organisation_type and reference.size_class == size_class:
            return reference
    return None


def copy_of(reference: Reference) -> dict[str, Any]:
    """What a session keeps of the reference it shows."""
    return {
        "id": reference.pk,
        "name": reference.name,
        "description": reference.description,
        "made": timezone.localdate(reference.created_at).isoformat(),
        "sessions": reference.sessions,
        "exercise": reference.exercise_id,
        "data": reference.data,
    }


def choose(*, session: Session, reference: Reference | None) -> None:
    """Give the session a published reference of its own exercise version (None: none), until it closes."""
    if reference is not None:
        if not reference.published:
            raise ControlError(_("This reference has been withdrawn."))
        if reference.exercise_id != session.exercise_id:
            raise ControlError(_("This reference is of another exercise version."))

    def change(s: Session, keys: tuple[str, ...]) -> dict[str, Any]:
        # References are frozen from archives and a session is archived only when it closes: it cannot be in one.
        archive = Archive.objects.filter(session=s).values_list("pk", flat=True).first()
        assert reference is None or archive is None or archive not in reference.archives, "a session shows itself"
        return {
            "reference_id": reference.pk if reference else None,
            "reference_copy": copy_of(reference) if reference else None,
        }

    guarded(session, "reference", change)


def apply(*, session: Session, data: dict[str, Any]) -> None:
    """The session's context (size class, kind) and its reference choice from SessionReferenceForm:
    "" none, "suggested" the reference of the same size class and kind (none if there is none), or a pk."""
    with transaction.atomic():  # context and reference together, or neither
        _apply(session, data)


def _apply(session: Session, data: dict[str, Any]) -> None:
    context = {key: data.get(key) or "" for key in ("organisation_type", "size_class")}
    guarded(session, "metadata", lambda s, keys: dict(context), announced=False)
    choice = data.get("reference") or ""
    if choice == "suggested":
        reference = best_match(exercise=session.exercise, **context)
    elif choice:
        reference = Reference.objects.filter(pk=int(choice)).first() if choice.isdigit() else None
        if reference is None:
            raise ControlError(_("Unknown reference."))
    else:
        reference = None
    if reference is not None or session.reference_id is not None:
        choose(session=session, reference=reference)
