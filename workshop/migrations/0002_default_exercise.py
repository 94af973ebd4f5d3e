"""Load the default exercise and create the Facilitators group."""

import json
from pathlib import Path

from django.db import migrations

from workshop.exercise_format import parse_exercise
from workshop.exercises import save_exercise

DEFAULT = Path(__file__).resolve().parent.parent / "data" / "wijkgericht-werken.json"


def load_default(apps, schema_editor):
    save_exercise(parse_exercise(json.loads(DEFAULT.read_text(encoding="utf-8"))), apps=apps)


def unload_default(apps, schema_editor):
    apps.get_model("workshop", "Exercise").objects.filter(slug="wijkgericht-werken", sessions__isnull=True).delete()


def facilitators_group(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="Facilitators")
    group.permissions.set(
        Permission.objects.filter(
            content_type__app_label="workshop",
            codename__in=["add_session", "view_session", "change_session"],
        )
    )


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="Facilitators").delete()


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
