"""Load the default exercise and create the Facilitators group."""

import json
from pathlib import Path

from django.db import migrations

from workshop.access import FACILITATORS, create_role, remove_role
from workshop.exercise_format import parse_exercise
from workshop.exercises import save_exercise

DEFAULT = Path(__file__).resolve().parent.parent / "data" / "wijkgericht-werken.json"


def load_default(apps, schema_editor):
    save_exercise(parse_exercise(json.loads(DEFAULT.read_text(encoding="utf-8"))), apps=apps)


def unload_default(apps, schema_editor):
    apps.get_model("workshop", "Exercise").objects.filter(slug="wijkgericht-werken", sessions__isnull=True).delete()


def facilitators_group(apps, schema_editor):
    create_role(FACILITATORS, apps)


def remove_group(apps, schema_editor):
    remove_role(FACILITATORS, apps)


class Migration(migrations.Migration):
    dependencies = [
        ("workshop", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(load_default, unload_default),
        migrations.RunPython(facilitators_group, remove_group),
    ]
