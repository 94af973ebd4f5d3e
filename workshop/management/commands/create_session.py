import json

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from workshop import session_control
from workshop.models import Exercise


class Command(BaseCommand):
    help = "Create a session for a facilitator and print its code and URLs as one JSON line."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--facilitator", required=True, help="username")
        parser.add_argument(
            "--exercise",
            default="wijkgericht-werken",
            help="exercise slug (newest version)",
        )
        parser.add_argument("--title", default="Schuifoefening")

    def handle(
        self,
        *args: object,
        facilitator: str,
        exercise: str,
        title: str,
        **options: object,
    ) -> None:
        user = get_user_model().objects.filter(username=facilitator).first()
        if user is None:
            raise CommandError(f"no user {facilitator!r}")
        chosen = Exercise.objects.filter(slug=exercise).order_by("-version").first()
        if chosen is None:
            raise CommandError(f"no exercise {exercise!r}")
        title = title.strip()
        if not title or len(title) > 120:
            raise CommandError("the title must be 1 to 120 characters")
        session = session_control.create_session(facilitator=user, exercise=chosen, title=title)
        base = settings.PUBLIC_URL.rstrip("/")
        self.stdout.write(
            json.dumps(
                {
                    "code": session.code,
                    "join_url": base + reverse("join", kwargs={"code": session.code}),
                    "dashboard_url": base + reverse("dashboard", kwargs={"code": session.code}),
                }
            )
        )
