"""The default exercise's wording (docs/glossary.md, issue 24): "Langetermijnopgaven" is one word, as Dutch writes
it. Migration 0002 loaded the old spelling into every existing database; this corrects the default exercise where it
still has it, and leaves an exercise an administrator has edited or imported alone."""

from django.db import migrations

SLUG, KEY = "wijkgericht-werken", "horizon"
OLD, NEW = "Lange termijn opgaven", "Langetermijnopgaven"


def respell(apps, schema_editor, old: str = OLD, new: str = NEW):
    Slider = apps.get_model("workshop", "Slider")
    Slider.objects.filter(exercise__slug=SLUG, key=KEY, right_nl=old).update(right_nl=new)


def back(apps, schema_editor):
    respell(apps, schema_editor, old=NEW, new=OLD)


class Migration(migrations.Migration):
    dependencies = [
        ("workshop", "0011_reference"),
    ]

    operations = [migrations.RunPython(respell, back)]
