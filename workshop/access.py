"""Who may do what: the one place that decides who may run, watch or see a session or an archive.

Two roles, each an auth group that the migrations create (`create_role`):

- **Facilitators** (`FACILITATE`, the `workshop.add_session` permission) run sessions. A
  facilitator runs, watches (dashboard and screen sockets) and reads the results of *their own*
  sessions only; someone else's session is as unknown as a wrong code (404 on a page, 4403 on a
  socket). A superuser runs every session.
- **Research** staff (`RESEARCH`, `workshop.view_archive`) read the anonymised archives and never
  a live session. Staff with `DELETE_ARCHIVE` delete an archive on an AVG request, as may the
  facilitator whose session it was.

An inactive account may do nothing. Views (`facilitators_only`, `research_only`,
`sessions_run_by`), sockets (`may_watch`) and tests all ask here.

When a user logs out, or their groups, permissions, password or account change (or a group of
theirs changes or goes), their dashboard and screen sockets are told once the change has committed
(`broadcast.access_revoked`, through the channel layer to every process) and check again
(`still_may_watch`, against the login's session auth hash too); the ones no longer allowed close with
4403.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.apps import apps as global_apps
from django.apps.registry import Apps
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import user_passes_test
from django.contrib.auth.models import Group as AuthGroup
from django.contrib.auth.signals import user_logged_out
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete
from django.utils.crypto import constant_time_compare

from workshop import broadcast
from workshop.models import Archive, Session

# The named permissions every rule below is written with (app label "workshop").
FACILITATE = "workshop.add_session"
RESEARCH = "workshop.view_archive"
DELETE_ARCHIVE = "workshop.delete_archive"

FACILITATORS = "Facilitators"
RESEARCH_STAFF = "Research"
# Each role's group and the permissions it holds, as migrations 0002 and 0005 create them.
ROLES: dict[str, tuple[str, ...]] = {
    FACILITATORS: (FACILITATE, "workshop.view_session", "workshop.change_session"),
    RESEARCH_STAFF: (RESEARCH, DELETE_ARCHIVE),
}


# The rules ----------------------------------------------------------------------------------


def may_facilitate(user: Any) -> bool:
    """Whether this user may create and run sessions at all (their own ones)."""
    return bool(user.is_active and user.has_perm(FACILITATE))


def may_run(user: Any, session: Session) -> bool:
    """Whether this user may run this session: see its pages, use its controls, read its results."""
    return may_facilitate(user) and (user.is_superuser or session.facilitator_id == user.pk)


def may_watch(user: Any, session: Session) -> bool:
    """Whether this user may hold a dashboard or screen socket of this session: exactly who may run it,
    so that a socket never shows what the page would not."""
    return may_run(user, session)


def may_research(user: Any) -> bool:
    """Whether this user may read the archives (across sessions, anonymised)."""
    return bool(user.is_active and user.has_perm(RESEARCH))


def may_delete_archive(user: Any, archive: Archive) -> bool:
    """An AVG request: research staff who may delete archives, or whoever may run the session it came from."""
    if not user.is_active:
        return False
    return user.has_perm(DELETE_ARCHIVE) or (archive.session is not None and may_run(user, archive.session))


def sessions_run_by(user: Any) -> QuerySet[Session]:
    """The sessions this user may run (`may_run`, as a query): their own, all for a superuser, else none."""
    if not may_facilitate(user):
        return Session.objects.none()
    sessions = Session.objects.all()
    return sessions if user.is_superuser else sessions.filter(facilitator_id=user.pk)


def watchable_session_id(user: Any, code: str) -> int | None:
    """The id of the session with this code that this user may watch, else None.

    One query, the same whether the code is unknown or someone else's: a socket's answer (and how
    long it takes) tells neither apart.
    """
    return sessions_run_by(user).filter(code=code).values_list("pk", flat=True).first()


def still_may_watch(user_id: int, session_id: int, auth_hash: str | None = None) -> bool:
    """Read afresh from the database: the socket's own copy of the user is as old as the socket.

    `auth_hash` is the login's session auth hash (HASH_SESSION_KEY) as the socket opened with it: a
    changed password makes it stale, and the login with it, as Django's pages decide.
    """
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None or (auth_hash is not None and not constant_time_compare(auth_hash, user.get_session_auth_hash())):
        return False
    session = Session.objects.filter(pk=session_id).first()
    return session is not None and may_watch(user, session)


# For views (after `login_required`, which sends anonymous users to log in) ------------------


def _required(rule: Callable[[Any], bool]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def check(user: Any) -> bool:
        if rule(user):
            return True
        raise PermissionDenied  # 403: logged in, but not in this role

    return user_passes_test(check)


facilitators_only = _required(may_facilitate)
research_only = _required(may_research)


# The roles' groups ----------------------------------------------------------------------------


def create_role(name: str, apps: Apps = global_apps) -> Any:
    """The role's group with exactly its permissions (ROLES), made if missing.

    Migrations 0002 and 0005 call this with their historical `apps`; tests call it with the
    real registry when a transactional test's flush took the group, so that a persona's
    rights are always the ones a real deployment's group gives.
    """
    from django.contrib.auth.management import create_permissions

    # Permissions are made after `migrate`; a migration needs them now. Historical app configs
    # have no models module, which create_permissions takes to mean "no models".
    for app_config in apps.get_app_configs():
        stub = getattr(app_config, "models_module", None) is None
        if stub:
            app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        if stub:
            app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _created = Group.objects.get_or_create(name=name)
    codenames = [permission.removeprefix("workshop.") for permission in ROLES[name]]
    group.permissions.set(Permission.objects.filter(content_type__app_label="workshop", codename__in=codenames))
    return group


def remove_role(name: str, apps: Apps = global_apps) -> None:
    apps.get_model("auth", "Group").objects.filter(name=name).delete()


# Ending a live feed the moment the rules say no ---------------------------------------------


# Each is told once the change is committed: a socket that checked inside the admin's transaction
# would read the rights as they were, and keep its feed.


def _revoke(user_ids: Any, login: str | None = None) -> None:
    for user_id in set(user_ids):
        transaction.on_commit(lambda user_id=user_id: broadcast.access_revoked(user_id=user_id, login=login))


def _logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        _revoke([user.pk], login=request.session.session_key)


def _user_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    # Deactivated, a new password (a new session auth hash), made superuser or not, deleted.
    _revoke([instance.pk])


def _memberships_changed(sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any) -> None:
    if not action.startswith("post_"):
        return
    if not reverse:
        _revoke([instance.pk])
        return
    # From the group's side: every user added or removed (all of them on a clear).
    _revoke(pk_set if pk_set else instance.user_set.values_list("pk", flat=True))


def _group_rights_changed(sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any) -> None:
    """A group's permissions changed: every member checks again."""
    if action.startswith("post_"):
        # From the permission's side, pk_set holds the groups.
        groups = list(pk_set or []) if reverse else [instance.pk]
        _revoke(get_user_model().objects.filter(groups__in=groups).values_list("pk", flat=True))


def _group_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    # The members are known only before the rows go; they are told after the commit.
    _revoke(list(instance.user_set.values_list("pk", flat=True)))


def connect_signals() -> None:
    User = get_user_model()
    user_logged_out.connect(_logged_out, dispatch_uid="workshop.access.logged_out")
    post_save.connect(_user_changed, sender=User, dispatch_uid="workshop.access.user_changed")
    m2m_changed.connect(_memberships_changed, sender=User.groups.through, dispatch_uid="workshop.access.groups")
    m2m_changed.connect(
        _memberships_changed, sender=User.user_permissions.through, dispatch_uid="workshop.access.permissions"
    )
    post_delete.connect(_user_changed, sender=User, dispatch_uid="workshop.access.user_deleted")
    m2m_changed.connect(
        _group_rights_changed, sender=AuthGroup.permissions.through, dispatch_uid="workshop.access.group_rights"
    )
    pre_delete.connect(_group_deleted, sender=AuthGroup, dispatch_uid="workshop.access.group_deleted")
