from django.contrib import admin
from django.urls import include, path

from workshop import archive_views, result_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("j/<str:code>/", views.join, name="join"),
    path("start/", views.start, name="start"),
    path("f/", views.facilitator_home, name="facilitator_home"),
    path("f/s/<str:code>/", views.dashboard, name="dashboard"),
    path("f/s/<str:code>/screen/", views.screen, name="screen"),
    path("f/s/<str:code>/do/<slug:action>/", views.control, name="control"),
    path("f/s/<str:code>/close/", views.close, name="close"),
    path("f/s/<str:code>/results/", result_views.results, name="results"),
    path("f/s/<str:code>/results.csv", result_views.results_csv, name="results_csv"),
    path("f/s/<str:code>/results.json", result_views.results_json, name="results_json"),
    path("f/s/<str:code>/results/<int:round>/<slug:slider>.svg", result_views.results_chart, name="results_chart"),
    path("f/s/<str:code>/metadata/", result_views.metadata, name="metadata"),
    path("archive/", archive_views.archive_list, name="archive_list"),
    path("archive/export.csv", archive_views.archive_csv, name="archive_csv"),
    path("archive/export.json", archive_views.archive_json, name="archive_json"),
    path("archive/<int:pk>/", archive_views.archive_detail, name="archive_detail"),
    path("archive/<int:pk>/delete/", archive_views.archive_delete, name="archive_delete"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
]
