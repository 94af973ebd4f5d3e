from django.contrib import admin
from django.urls import include, path

from workshop import views

urlpatterns = [
    path("", views.home, name="home"),
    path("j/<str:code>/", views.join, name="join"),
    path("f/", views.facilitator_home, name="facilitator_home"),
    path("f/s/<str:code>/", views.dashboard, name="dashboard"),
    path("f/s/<str:code>/reveal/", views.reveal, name="reveal"),
    path("f/s/<str:code>/close/", views.close, name="close"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
]
