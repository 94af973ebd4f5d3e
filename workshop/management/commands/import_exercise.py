import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from workshop import exercises
from workshop.exercise_format import ExerciseFormatError


class Command(BaseCommand):
    help = "Create or update an exercise from a JSON file (see docs/exercise-format.md). Writes nothing on error."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, *args: object, path: Path, **options: object) -> None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as error:
            raise CommandError(f"cannot read {path}: {error.strerror}") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CommandError(f"{path} is not valid JSON: {error}") from None
        try:
            exercise = exercises.import_exercise(data=data)
        except ExerciseFormatError as error:
            raise CommandError(f"{path}: {error}") from None
        self.stdout.write(f"Imported {exercise.slug} version {exercise.version}: {exercise.title_nl}")
