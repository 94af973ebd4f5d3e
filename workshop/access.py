"""Who may watch a session's live feed, and ending the feed the moment that changes.

The dashboard socket follows the pages' rules: a facilitator (the
`workshop.add_session` permission) who runs the session, or a superuser. When
a user logs out, or their groups, permissions or account change, their
dashboard sockets are told (`broadcast.access_revoked`) and check again; the
ones no longer allowed close with 4403.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import m2m_changed, post_save

from workshop import broadcast
from workshop.models import Session

FACILITATOR_PERMISSION = "workshop.add_session"


def may_watch(user: Any, session: Session) -> bool:
    return bool(user.is_active and user.has_perm(FACILITATOR_PERMISSION) and session.is_run_by(user))


def still_may_watch(user_id: int, session_id: int) -> bool:
    """Read afresh from the database: the socket's own copy of the user is as old as the socket."""
    user = get_user_model().objects.filter(pk=user_id).first()
    session = Session.objects.filter(pk=session_id).first()
    return user is not None and session is not None and may_watch(user, session)


def _logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        broadcast.access_revoked(user_id=user.pk, login=request.session.session_key)


def _user_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    broadcast.access_revoked(user_id=instance.pk)


def _memberships_changed(sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any) -> None:
    if not action.startswith("post_"):
        return
    if not reverse:
        broadcast.access_revoked(user_id=instance.pk)
        return
    # From the group's side: every user added or removed (all of them on a clear).
    users = pk_set if pk_set else instance.user_set.values_list("pk", flat=True)
    for user_id in users:
        broadcast.access_revoked(user_id=user_id)


def connect_signals() -> None:
    User = get_user_model()
    user_logged_out.connect(_logged_out, dispatch_uid="workshop.access.logged_out")
    post_save.connect(_user_changed, sender=User, dispatch_uid="workshop.access.user_changed")
    m2m_changed.connect(_memberships_changed, sender=User.groups.through, dispatch_uid="workshop.access.groups")
    m2m_changed.connect(
        _memberships_changed, sender=User.user_permissions.through, dispatch_uid="workshop.access.permissions"
    )
