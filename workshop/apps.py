from typing import Any

from django.apps import AppConfig
from django.core.signals import request_finished
from django.db import connections


class WorkshopConfig(AppConfig):
    name = "workshop"
    verbose_name = "Schuifoefening"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from workshop import access

        access.connect_signals()
        request_finished.connect(close_request_connections, dispatch_uid="workshop.close_request_connections")


def close_request_connections(**kwargs: Any) -> None:
    """Under ASGI a request's synchronous code runs on a thread of its own that ends with the request.

    A connection kept open there (DB_CONN_MAX_AGE) is never used again and holds a PostgreSQL slot
    until the garbage collector happens to free it: a hall of phones loading the join page ran
    PostgreSQL out of connections. The sockets' database calls share one long-lived thread, whose
    connection stays open. A connection inside a transaction (a test's) is left alone.
    """
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close()
