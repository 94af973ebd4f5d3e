from django.apps import AppConfig


class WorkshopConfig(AppConfig):
    name = "workshop"
    verbose_name = "Schuifoefening"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from workshop import access

        access.connect_signals()
