"""The anonymised archives of closed sessions, for research: no token, no session code, the month
only, pseudonyms per session (see docs/archive-format.md and archives.py)."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from workshop.organisation import Context
from workshop.stats import MAX_VALUE, MIN_VALUE

VALUE_VALIDATORS = [MinValueValidator(MIN_VALUE), MaxValueValidator(MAX_VALUE)]


class Archive(Context):
    """A finished session, anonymised for research: pseudonyms, month, what was entered. Nothing else.

    Deleting an archive deletes its positions, groups, summaries and notes with it.
    """

    exercise = models.ForeignKey("workshop.Exercise", on_delete=models.PROTECT, related_name="archives")
    # Only so that the facilitator can have their own archive deleted; never shown to research staff.
    session = models.OneToOneField(
        "workshop.Session", null=True, blank=True, on_delete=models.SET_NULL, related_name="archive"
    )
    month = models.DateField(help_text="The first day of the month the session ran in.")
    participants = models.PositiveIntegerField()
    rounds = models.PositiveSmallIntegerField()
    profile_now = models.CharField(max_length=40, blank=True)
    profile_desired = models.CharField(max_length=40, blank=True)
    # The reference the room was shown ({"id", "name", "made", "sessions"}), or null: see references_service.
    reference = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-month", "-pk"]
        indexes = [models.Index(fields=["month"]), models.Index(fields=["profile_now", "profile_desired"])]

    def __str__(self) -> str:
        return f"archive {self.pk} ({self.month:%Y-%m})"


class ArchiveGroup(models.Model):
    archive = models.ForeignKey(Archive, on_delete=models.CASCADE, related_name="groups")
    name = models.CharField(max_length=60)
    order = models.PositiveIntegerField(default=0)
    participants = models.PositiveIntegerField(default=0)
    profile = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["order", "pk"]

    def __str__(self) -> str:
        return self.name


class ArchivePosition(models.Model):
    archive = models.ForeignKey(Archive, on_delete=models.CASCADE, related_name="positions")
    participant = models.PositiveIntegerField(help_text="Pseudonym number: 1 is P1.")
    group = models.ForeignKey(ArchiveGroup, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    round = models.PositiveSmallIntegerField()
    slider = models.ForeignKey("workshop.Slider", on_delete=models.PROTECT, related_name="+")
    value = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["participant", "round", "slider__order"]

    def __str__(self) -> str:
        return f"P{self.participant} {self.slider_id}={self.value}"


class ArchiveSummary(models.Model):
    """Per round and slider, the session's spread: what overviews across sessions read."""

    archive = models.ForeignKey(Archive, on_delete=models.CASCADE, related_name="summaries")
    round = models.PositiveSmallIntegerField()
    slider = models.ForeignKey("workshop.Slider", on_delete=models.PROTECT, related_name="+")
    n = models.PositiveIntegerField()
    median = models.FloatField(null=True)
    q1 = models.FloatField(null=True)
    q3 = models.FloatField(null=True)
    abstained = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.slider_id} round {self.round}"


class ArchiveNote(models.Model):
    archive = models.ForeignKey(Archive, on_delete=models.CASCADE, related_name="notes")
    slider = models.ForeignKey("workshop.Slider", on_delete=models.PROTECT, related_name="+")
    round = models.PositiveSmallIntegerField()
    text = models.TextField()

    def __str__(self) -> str:
        return f"note {self.slider_id} round {self.round}"


class Reference(models.Model):
    """Research staff's frozen aggregates over archives of one exercise version, shown to rooms after their
    reveal (references.py computes, references_service.py writes). Names no session and no municipality."""

    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), max_length=500, blank=True)
    exercise = models.ForeignKey("workshop.Exercise", on_delete=models.PROTECT, related_name="references")
    # The overview's filter it was made from, for the researcher's own record and for suggestions.
    filters = models.JSONField(default=dict, blank=True)
    organisation_type = models.CharField(max_length=20, blank=True)
    size_class = models.CharField(max_length=8, blank=True)
    sessions = models.PositiveIntegerField()
    data = models.JSONField()
    # Internal only, never shown: lets the service assert that a session is not in a reference it shows.
    archives = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]

    def __str__(self) -> str:
        return self.name

    @property
    def published(self) -> bool:
        return self.withdrawn_at is None
