"""The research group: Platform31/LPB staff who review anonymised archives and nothing else."""

from django.db import migrations

from workshop.access import RESEARCH_STAFF, create_role, remove_role


def research_group(apps, schema_editor):
    create_role(RESEARCH_STAFF, apps)


def remove_group(apps, schema_editor):
    remove_role(RESEARCH_STAFF, apps)


class Migration(migrations.Migration):
    dependencies = [("workshop", "0004_archives")]

    operations = [migrations.RunPython(research_group, remove_group)]
