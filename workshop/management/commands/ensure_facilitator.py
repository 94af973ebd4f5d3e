import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Make sure a facilitator account exists. Takes DJANGO_SUPERUSER_USERNAME and "
        "DJANGO_SUPERUSER_PASSWORD; otherwise creates 'facilitator' with a generated password once."
    )

    def handle(self, *args: object, **options: object) -> None:
        User = get_user_model()
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME", "").strip()
        password = os.environ.get("DJANGO_SUPERUSER_PASSWORD", "")
        if username and password:
            user, created = User.objects.get_or_create(username=username)
            user.is_staff = user.is_superuser = True
            user.set_password(password)
            user.save()
            self.stdout.write(f"Facilitator account {'created' if created else 'updated'}: {username}")
            return
        username = username or "facilitator"
        if User.objects.filter(username=username).exists():
            self.stdout.write(
                f"Facilitator account: {username} (password as printed on first run; "
                "set DJANGO_SUPERUSER_PASSWORD to change it)"
            )
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, password=password, email="")
        self.stdout.write(
            self.style.SUCCESS(f"Facilitator account created. Username: {username}  Password: {password}")
        )
