from channels.auth import AuthMiddlewareStack
from django.urls import path, re_path

import config.converters  # noqa: F401 (registers the `code` converter)
from workshop.consumers import DashboardConsumer
from workshop.phone_socket import phone_socket
from workshop.unrouted import NoSuchSocket

websocket_urlpatterns = [
    # Phones are anonymous: no login session or user to resolve, which channels' auth stack does with
    # two trips to the database thread per socket, in the way of every other phone of a hall joining.
    path("ws/p/<code:code>/", phone_socket),
    path("ws/d/<code:code>/", AuthMiddlewareStack(DashboardConsumer.as_asgi())),
    # Anything else, a malformed code included: 4404, never a traceback.
    re_path(r"", NoSuchSocket.as_asgi()),
]
