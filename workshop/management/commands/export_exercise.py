import json

from django.core.management.base import BaseCommand, CommandError, CommandParser

from workshop import exercises
from workshop.models import Exercise


class Command(BaseCommand):
    help = "Print an exercise as JSON, in the format import_exercise reads."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument(
            "--exercise-version",
            type=int,
            dest="exercise_version",
            help="default: the newest",
        )

    def handle(self, *args: object, slug: str, exercise_version: int | None, **options: object) -> None:
        versions = Exercise.objects.filter(slug=slug).order_by("-version")
        if exercise_version is not None:
            versions = versions.filter(version=exercise_version)
        exercise = versions.first()
        if exercise is None:
            raise CommandError(f"no exercise {slug!r}" + (f" version {exercise_version}" if exercise_version else ""))
        self.stdout.write(
            json.dumps(
                exercises.export_exercise(exercise=exercise),
                ensure_ascii=False,
                indent=2,
            )
        )
