"""Exercises in the database: saving a spec, importing a file, and versions.

`save_exercise` is shared with the data migration (historical models). A
version that sessions or archives used is never changed: `import_exercise` and
`new_exercise_version` make the next version instead, so archives keep the
version they were run with. The file format is exercise_format.py.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from django.apps import apps as django_apps
from django.db import transaction

from workshop.exercise_format import LANGUAGES, ExerciseSpec, columns, dump_exercise, parse_exercise
from workshop.models import Exercise


def save_exercise(spec: ExerciseSpec, *, apps: Any) -> Any:
    """Create or update the exercise (slug, version) from a spec; the caller holds the transaction.

    `apps` is django.apps.apps in the application and the historical registry
    in a migration, so both write through this one function.
    """
    Exercise = apps.get_model("workshop", "Exercise")
    Slider = apps.get_model("workshop", "Slider")
    Profile = apps.get_model("workshop", "Profile")
    ProfileTarget = apps.get_model("workshop", "ProfileTarget")

    exercise, _ = Exercise.objects.update_or_create(
        slug=spec.slug,
        version=spec.version,
        defaults={
            **columns("title", spec.title),
            **columns("source", {lang: spec.source.get(lang, "") for lang in LANGUAGES}),
            "source_url": spec.source_url,
        },
    )
    Slider.objects.filter(exercise=exercise).exclude(key__in=[s.key for s in spec.sliders]).delete()
    sliders = {}
    for order, s in enumerate(spec.sliders):
        sliders[s.key], _ = Slider.objects.update_or_create(
            exercise=exercise,
            key=s.key,
            defaults={
                "order": order,
                **columns("label", s.label),
                **columns("left", s.left),
                **columns("right", s.right),
                **columns("explanation", s.explanation),
            },
        )
    Profile.objects.filter(exercise=exercise).exclude(key__in=[p.key for p in spec.profiles]).delete()
    for order, p in enumerate(spec.profiles):
        profile, _ = Profile.objects.update_or_create(
            exercise=exercise,
            key=p.key,
            defaults={
                "order": order,
                **columns("name", p.name),
                **columns("description", p.description),
                **columns("assignment", p.assignment),
            },
        )
        for key, value in p.target.items():
            ProfileTarget.objects.update_or_create(profile=profile, slider=sliders[key], defaults={"value": value})
    return exercise


# Versions ------------------------------------------------------------------


def import_exercise(*, data: Any) -> Exercise:
    """Validate a decoded exercise document and create or update it; nothing is written on error.

    An exercise that sessions or archives already used is never changed: a
    changed file becomes a new version (one above the newest), so archives keep
    the version they were run with. An unchanged file changes nothing.
    """
    spec = parse_exercise(data)
    with transaction.atomic():
        newest = Exercise.objects.select_for_update().filter(slug=spec.slug).order_by("-version").first()
        if newest is not None and exercise_in_use(newest):
            if parse_exercise({**dump_exercise(newest), "version": spec.version}) == spec:
                return newest
            spec = replace(spec, version=newest.version + 1)
        return save_exercise(spec, apps=django_apps)


def exercise_in_use(exercise: Exercise) -> bool:
    return exercise.sessions.exists() or exercise.archives.exists()


def new_exercise_version(*, exercise: Exercise) -> Exercise:
    """An editable copy of an exercise as the next version, for changes after it has been used."""
    with transaction.atomic():
        newest = Exercise.objects.select_for_update().filter(slug=exercise.slug).order_by("-version").first()
        assert newest is not None
        spec = replace(parse_exercise(dump_exercise(exercise)), version=newest.version + 1)
        return save_exercise(spec, apps=django_apps)


def export_exercise(*, exercise: Exercise) -> dict[str, Any]:
    return dump_exercise(exercise)
