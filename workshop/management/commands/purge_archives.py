from django.conf import settings
from django.core.management.base import BaseCommand

from workshop import archives


class Command(BaseCommand):
    help = (
        "Delete archives older than ARCHIVE_RETENTION_DAYS, and the participants, positions, notes and group "
        "names of sessions closed more than SESSION_RETENTION_DAYS ago. Run it daily with the server's environment "
        "(deploy/schuifoefening-purge-archives.timer)."
    )

    def handle(self, *args: object, **options: object) -> None:
        count = archives.purge_archives()
        self.stdout.write(f"Deleted {count} archive(s) older than {settings.ARCHIVE_RETENTION_DAYS} days.")
        stripped = archives.purge_sessions()
        self.stdout.write(
            f"Deleted the personal data of {stripped} session(s) closed more than "
            f"{settings.SESSION_RETENTION_DAYS} days ago."
        )
