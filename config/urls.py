from django.conf import settings
from django.contrib import admin
from django.contrib.auth import urls as auth_urls
from django.urls import include, path

import config.converters  # noqa: F401 (registers the `code` converter)
from workshop import archive_views, fallback, reference_views, result_views, views

# Password reset sends a link by mail: without mail configured it could only fail (and log an error).
PASSWORD_RESET = {"password_reset", "password_reset_done", "password_reset_confirm", "password_reset_complete"}
account_urls = [p for p in auth_urls.urlpatterns if settings.MAIL_CONFIGURED or p.name not in PASSWORD_RESET]

urlpatterns = [
    path("", views.home, name="home"),
    path("j/<code:code>/", views.join, name="join"),
    # Phones whose network blocks websockets (workshop/fallback.py).
    path("p/<code:code>/stream/", fallback.stream, name="phone_stream"),
    path("p/<code:code>/send/", fallback.send, name="phone_send"),
    path("j/<code:code>/result.pdf", result_views.my_result, name="my_result"),
    path("start/", views.start, name="start"),
    path("f/", views.facilitator_home, name="facilitator_home"),
    path("f/s/<code:code>/", views.dashboard, name="dashboard"),
    path("f/s/<code:code>/screen/", views.screen, name="screen"),
    path("f/s/<code:code>/do/<slug:action>/", views.control, name="control"),
    path("f/s/<code:code>/close/", views.close, name="close"),
    path("f/s/<code:code>/results/", result_views.results, name="results"),
    path("f/s/<code:code>/results.csv", result_views.results_download, {"format": "csv"}, name="results_csv"),
    path("f/s/<code:code>/results.json", result_views.results_download, {"format": "json"}, name="results_json"),
    path("f/s/<code:code>/results.pdf", result_views.results_download, {"format": "pdf"}, name="results_pdf"),
    path("f/s/<code:code>/results.xlsx", result_views.results_download, {"format": "xlsx"}, name="results_xlsx"),
    path("f/s/<code:code>/results/<int:round>/<slug:slider>.svg", result_views.results_chart, name="results_chart"),
    path("f/s/<code:code>/metadata/", result_views.metadata, name="metadata"),
    path("archive/", archive_views.archive_list, name="archive_list"),
    path("archive/export.csv", archive_views.archive_export, {"format": "csv"}, name="archive_csv"),
    path("archive/export.json", archive_views.archive_export, {"format": "json"}, name="archive_json"),
    path("archive/references/", reference_views.reference_list, name="reference_list"),
    path("archive/references/publish/", reference_views.reference_publish, name="reference_publish"),
    path("archive/references/<int:pk>/withdraw/", reference_views.reference_withdraw, name="reference_withdraw"),
    path("f/s/<code:code>/reference/", reference_views.session_reference, name="session_reference"),
    path("archive/<int:pk>/", archive_views.archive_detail, name="archive_detail"),
    path("archive/<int:pk>/delete/", archive_views.archive_delete, name="archive_delete"),
    path("accounts/", include(account_urls)),
    path("i18n/", include("django.conf.urls.i18n")),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
]
