"""Static files in production: WhiteNoise's compressed, hashed copies, with JavaScript modules too.

The phone's and the dashboards' scripts are ES modules that load each other by relative name
(static/workshop/phone/main.js and its neighbours). A hashed copy of a module must load the hashed
copies of its neighbours, or a browser could run a cached old neighbour beside a new module.
Django rewrites those names with its module patterns; its own switch for them
(support_js_module_import_aggregation) applies them to every *.js, third-party files included,
and django_htmx's hx-sse-2.js names a file that is not there, which fails collectstatic. So the
patterns apply to our own scripts only. They read the source text: the scripts keep their module
lines plain (one per line, ending in ";"), as tests/test_page_scripts.py checks.
"""

from django.contrib.staticfiles.storage import ManifestStaticFilesStorage
from whitenoise.storage import CompressedManifestStaticFilesStorage

# Django's (extension, patterns) pair for module lines; only the patterns are taken.
_MODULE_PATTERNS = ManifestStaticFilesStorage._js_module_import_aggregation_patterns[1]


class StaticStorage(CompressedManifestStaticFilesStorage):
    patterns = (*CompressedManifestStaticFilesStorage.patterns, ("workshop/*.js", _MODULE_PATTERNS))
