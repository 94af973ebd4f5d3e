from django.urls import path

from workshop.consumers import DashboardConsumer, ParticipantConsumer

websocket_urlpatterns = [
    path("ws/p/<str:code>/", ParticipantConsumer.as_asgi()),
    path("ws/d/<str:code>/", DashboardConsumer.as_asgi()),
]
