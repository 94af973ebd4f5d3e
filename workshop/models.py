from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from workshop import limits, workflow
from workshop.organisation import Context
from workshop.stats import MAX_VALUE, MIN_VALUE

# Join codes: no look-alikes (0/O, 1/I/L), so a code read off a projector is typed right.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6
KEY_VALIDATOR = RegexValidator(r"^[a-z0-9][a-z0-9_-]{0,39}$", _("Use lowercase letters, digits, - and _."))
VALUE_VALIDATORS = [MinValueValidator(MIN_VALUE), MaxValueValidator(MAX_VALUE)]


class Translated:
    """`obj.label` reads `label_nl` or `label_en` by the active language, Dutch as fallback."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: object, objtype: type | None = None) -> str:
        if obj is None:
            return self  # type: ignore[return-value]
        language = (get_language() or "nl")[:2]
        return getattr(obj, f"{self.name}_{language}", "") or getattr(obj, f"{self.name}_nl")


class Exercise(models.Model):
    slug = models.SlugField(max_length=60)
    version = models.PositiveIntegerField(default=1)
    title_nl = models.CharField(max_length=200)
    title_en = models.CharField(max_length=200)
    source_nl = models.TextField(blank=True)
    source_en = models.TextField(blank=True)
    source_url = models.URLField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    title = Translated()
    source = Translated()

    class Meta:
        ordering = ["slug", "-version"]
        constraints = [models.UniqueConstraint(fields=["slug", "version"], name="exercise_slug_version")]

    def __str__(self) -> str:
        return f"{self.title_nl} (v{self.version})"


class Slider(models.Model):
    exercise = models.ForeignKey(Exercise, on_delete=models.CASCADE, related_name="sliders")
    key = models.CharField(max_length=40, validators=[KEY_VALIDATOR])
    order = models.PositiveIntegerField(default=0)
    label_nl = models.CharField(max_length=120)
    label_en = models.CharField(max_length=120)
    left_nl = models.CharField(max_length=120)
    left_en = models.CharField(max_length=120)
    right_nl = models.CharField(max_length=120)
    right_en = models.CharField(max_length=120)
    explanation_nl = models.TextField(blank=True)
    explanation_en = models.TextField(blank=True)

    label = Translated()
    left = Translated()
    right = Translated()
    explanation = Translated()

    class Meta:
        ordering = ["exercise", "order", "pk"]
        constraints = [models.UniqueConstraint(fields=["exercise", "key"], name="slider_key_per_exercise")]

    def __str__(self) -> str:
        return self.label_nl


class Profile(models.Model):
    exercise = models.ForeignKey(Exercise, on_delete=models.CASCADE, related_name="profiles")
    key = models.CharField(max_length=40, validators=[KEY_VALIDATOR])
    order = models.PositiveIntegerField(default=0)
    name_nl = models.CharField(max_length=200)
    name_en = models.CharField(max_length=200)
    description_nl = models.TextField()
    description_en = models.TextField()
    assignment_nl = models.TextField()
    assignment_en = models.TextField()

    name = Translated()
    description = Translated()
    assignment = Translated()

    class Meta:
        ordering = ["exercise", "order", "pk"]
        constraints = [models.UniqueConstraint(fields=["exercise", "key"], name="profile_key_per_exercise")]

    def __str__(self) -> str:
        return self.name_nl


class ProfileTarget(models.Model):
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="targets")
    slider = models.ForeignKey(Slider, on_delete=models.CASCADE, related_name="+")
    value = models.PositiveSmallIntegerField(validators=VALUE_VALIDATORS)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["profile", "slider"], name="one_target_per_slider"),
            models.CheckConstraint(condition=Q(value__lte=MAX_VALUE), name="target_in_range"),
        ]

    def __str__(self) -> str:
        return f"{self.slider.key}={self.value}"


class Session(Context):
    class Status(models.TextChoices):
        LOBBY = "lobby", _("Lobby")
        POSITIONING = "positioning", _("Positioning")
        DISCUSSION = "discussion", _("Discussion")
        CLOSED = "closed", _("Closed")

    class Results(models.TextChoices):
        HIDDEN = "hidden", _("Hidden")
        SHOWN = "shown", _("Shown")
        PER_SLIDER = "per_slider", _("Per slider")

    class Screen(models.TextChoices):
        ROOM = "room", _("Whole room")
        GROUPS = "groups", _("All groups side by side")
        GROUP = "group", _("One group")
        COMPARE = "compare", _("Compare with the reference")

    ROUNDS = (1, 2)

    code = models.CharField(max_length=CODE_LENGTH, unique=True)
    title = models.CharField(_("title"), max_length=limits.TITLE_MAX_CHARS)
    exercise = models.ForeignKey(Exercise, on_delete=models.PROTECT, related_name="sessions")
    facilitator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sessions")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.LOBBY)
    # Round 1: how it is organised now; round 2: how we want it.
    round = models.PositiveSmallIntegerField(default=1, validators=[MinValueValidator(1), MaxValueValidator(2)])
    open_sliders = models.JSONField(default=list, blank=True)
    results = models.CharField(max_length=12, choices=Results.choices, default=Results.HIDDEN)
    shown_sliders = models.JSONField(default=list, blank=True)
    profile_revealed = models.BooleanField(default=False)
    profile_to_phones = models.BooleanField(default=False)
    room_locked = models.BooleanField(default=False)
    max_participants = models.PositiveIntegerField(null=True, blank=True)
    timer_ends_at = models.DateTimeField(null=True, blank=True)
    timer_locks = models.BooleanField(default=False)
    # Written by the server's expiry event (session_control.expire_timer), once per timer.
    timer_expired = models.BooleanField(default=False)
    # Phones may change their group until the facilitator locks the groups.
    groups_locked = models.BooleanField(default=False)
    screen = models.CharField(max_length=8, choices=Screen.choices, default=Screen.ROOM)
    screen_group = models.ForeignKey("Group", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The reference chosen for the room, and the copy of it the room is shown (kept if it is withdrawn).
    reference = models.ForeignKey("Reference", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reference_copy = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_activity = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=Q(round__in=[1, 2]), name="round_is_1_or_2")]

    def __str__(self) -> str:
        return f"{self.code} {self.title}"

    @property
    def is_open(self) -> bool:
        return self.status != self.Status.CLOSED

    @property
    def joining_allowed(self) -> bool:
        return self.is_open and not self.room_locked

    def workflow_state(self, slider_keys: tuple[str, ...] = (), *, archived: bool = False) -> workflow.State:
        """What the transition table (workflow.py) reads of this session."""
        return workflow.State(
            status=self.status,
            round=self.round,
            slider_keys=slider_keys or tuple(self.open_sliders),
            open_sliders=tuple(self.open_sliders),
            results=self.results,
            profile_revealed=self.profile_revealed,
            profile_to_phones=self.profile_to_phones,
            timer_ends_at=self.timer_ends_at,
            timer_locks=self.timer_locks,
            timer_expired=self.timer_expired,
            archived=archived,
        )

    def slider_open(self, key: str, now: datetime | None = None) -> bool:
        """Whether phones may move this slider now (workflow.open_sliders: the timer included)."""
        return key in workflow.open_sliders(self.workflow_state(), now or timezone.now())

    def timer_remaining_ms(self, now: datetime | None = None) -> int | None:
        """Milliseconds left on the timer (0 once it ran out), or None without a timer."""
        if self.timer_ends_at is None:
            return None
        return max(0, int((self.timer_ends_at - (now or timezone.now())).total_seconds() * 1000))

    def results_visible(self, key: str) -> bool:
        if self.results == self.Results.SHOWN:
            return True
        return self.results == self.Results.PER_SLIDER and key in self.shown_sliders

    @staticmethod
    def new_code() -> str:
        return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


class Group(models.Model):
    """A subgroup in a session (a trio, a team, a municipality)."""

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="groups")
    name = models.CharField(_("name"), max_length=limits.GROUP_NAME_MAX_CHARS)
    order = models.PositiveIntegerField(default=0)
    # Results attach a group only to rounds in which it existed (docs/results-format.md).
    created_round = models.PositiveSmallIntegerField(default=1)

    class Meta:
        ordering = ["order", "pk"]
        constraints = [models.UniqueConstraint(fields=["session", "name"], name="group_name_per_session")]

    def __str__(self) -> str:
        return self.name


class Participant(models.Model):
    """An anonymous phone in one session: no name, no address, no user agent.

    The phone keeps a random token; the server stores only its SHA-256, so a
    database dump cannot be used to impersonate a phone.
    """

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="participants")
    group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.SET_NULL, related_name="participants")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"participant {self.pk} in {self.session.code}"

    @staticmethod
    def new_token() -> str:
        return secrets.token_urlsafe(24)

    @staticmethod
    def hash_token(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()


class Position(models.Model):
    """What a participant committed on one slider in one round. Latest wins.

    A null value is "geen mening / weet ik niet": counted, but not in the statistics.
    """

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="positions")
    slider = models.ForeignKey(Slider, on_delete=models.CASCADE, related_name="positions")
    round = models.PositiveSmallIntegerField(default=1)
    value = models.PositiveSmallIntegerField(null=True, blank=True, validators=VALUE_VALIDATORS)
    # The phone's sequence number of the `set` that wrote this value: a replay of it is
    # acknowledged without a change, an older one is refused.
    seq = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["participant", "slider", "round"], name="one_position_per_slider_round"),
            models.CheckConstraint(condition=Q(value__lte=MAX_VALUE) | Q(value__isnull=True), name="position_in_range"),
            models.CheckConstraint(condition=Q(round__in=[1, 2]), name="position_round_is_1_or_2"),
        ]

    def __str__(self) -> str:
        return f"{self.slider.key}={self.value}"


class Note(models.Model):
    """The facilitator's discussion notes per slider and round; never shown to phones."""

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="notes")
    slider = models.ForeignKey(Slider, on_delete=models.CASCADE, related_name="+")
    round = models.PositiveSmallIntegerField(default=1)
    text = models.TextField(max_length=limits.NOTE_MAX_CHARS, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["session", "slider", "round"], name="one_note_per_slider_round")]

    def __str__(self) -> str:
        return f"note {self.slider.key} round {self.round}"


# The anonymised archives live in archive_models.py; imported here so that Django registers them
# with this app and `workshop.models.Archive` stays where every module imports it from.
from workshop.archive_models import (  # noqa: E402
    Archive,
    ArchiveGroup,
    ArchiveNote,
    ArchivePosition,
    ArchiveSummary,
    Reference,  # noqa: F401
)

__all__ = [
    "CODE_ALPHABET",
    "CODE_LENGTH",
    "Archive",
    "ArchiveGroup",
    "ArchiveNote",
    "ArchivePosition",
    "ArchiveSummary",
    "Exercise",
    "Group",
    "Note",
    "Participant",
    "Position",
    "Profile",
    "ProfileTarget",
    "Session",
    "Slider",
]
