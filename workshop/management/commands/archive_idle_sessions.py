from django.conf import settings
from django.core.management.base import BaseCommand

from workshop import closing


class Command(BaseCommand):
    help = (
        "Close and archive sessions idle for ARCHIVE_IDLE_HOURS (default 12). Run it hourly with the server's "
        "environment (deploy/schuifoefening-archive-idle.timer)."
    )

    def handle(self, *args: object, **options: object) -> None:
        count = closing.archive_idle_sessions()
        self.stdout.write(f"Archived {count} session(s) idle for {settings.ARCHIVE_IDLE_HOURS} hours or more.")
