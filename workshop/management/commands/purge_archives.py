from django.conf import settings
from django.core.management.base import BaseCommand

from workshop import archives


class Command(BaseCommand):
    help = "Delete archives older than ARCHIVE_RETENTION_DAYS. Run it from cron, e.g. daily."

    def handle(self, *args: object, **options: object) -> None:
        count = archives.purge_archives()
        self.stdout.write(f"Deleted {count} archive(s) older than {settings.ARCHIVE_RETENTION_DAYS} days.")
