"""Closing: a session closed by its facilitator or left idle, archived at once; and the research context,
which may still change after closing (docs/archive-format.md). Through session_control's one guarded entry.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Max, Q
from django.utils import timezone

from workshop import archives
from workshop.models import Archive, Session
from workshop.session_control import ControlError, guarded


def close_session(*, session: Session, action: str = "close") -> Archive:
    """Close the session and archive it, anonymised, for research."""
    guarded(
        session,
        action,
        lambda s, keys: {
            "status": Session.Status.CLOSED,
            "open_sliders": [],
            "closed_at": timezone.now(),
            "timer_ends_at": None,
        },
    )
    return archives.archive_session(session=session)


def set_metadata(*, session: Session, organisation_type: str, size_class: str, region: str, context: str) -> None:
    """The optional context that goes into the archive; also after closing, until archived again."""
    fields = {"organisation_type": organisation_type, "size_class": size_class, "region": region, "context": context}

    def change(s: Session, keys: tuple[str, ...]) -> dict[str, Any]:
        Archive.objects.filter(session=s).update(**fields)
        return fields

    guarded(session, "metadata", change, announced=False)


def archive_idle_sessions(*, now: datetime | None = None) -> int:
    """Close and archive every open session idle for ARCHIVE_IDLE_HOURS (cron runs this)."""
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.ARCHIVE_IDLE_HOURS)
    idle = (
        Session.objects.exclude(status=Session.Status.CLOSED)
        .annotate(last_position=Max("participants__positions__updated_at"))
        .filter(last_activity__lt=cutoff)
        .filter(Q(last_position__isnull=True) | Q(last_position__lt=cutoff))
    )
    count = 0
    for session in idle:
        try:
            close_session(session=session, action="close_idle")
        except ControlError:
            continue  # closed by its facilitator meanwhile
        count += 1
    return count
