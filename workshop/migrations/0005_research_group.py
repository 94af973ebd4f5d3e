"""The research group: Platform31/LPB staff who review anonymised archives and nothing else."""

from django.db import migrations


def research_group(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="Research")
    group.permissions.set(
        Permission.objects.filter(content_type__app_label="workshop", codename__in=["view_archive", "delete_archive"])
    )


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="Research").delete()


class Migration(migrations.Migration):
    dependencies = [("workshop", "0004_archives")]

    operations = [migrations.RunPython(research_group, remove_group)]
