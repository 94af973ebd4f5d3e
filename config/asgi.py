import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Initialise Django (apps, models) before anything imports models.
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.urls import get_resolver  # noqa: E402

from config import daphne_http  # noqa: E402
from config.limits import BodyLimitMiddleware, install_in_daphne  # noqa: E402
from config.origins import SiteOriginValidator  # noqa: E402
from config.proxies import TrustedProxyMiddleware  # noqa: E402
from workshop.fallback_http import FallbackRouter  # noqa: E402
from workshop.metrics import MetricsEndpoint  # noqa: E402
from workshop.routing import websocket_urlpatterns  # noqa: E402

# daphne reads a whole body before the application is called; refuse oversized ones while they arrive.
install_in_daphne(settings.MAX_REQUEST_BYTES)
# and leave out what Twisted does per request that nothing here reads (a third of a fallback POST's cost).
daphne_http.install()

# Every view, now: the URLconf otherwise loads at the first reverse(), in the middle of a session
# (openpyxl and WeasyPrint's importers included), stopping every socket while it does.
get_resolver().check()

# A hall of phones is a large heap of long-lived connections, and a full collection stops every
# socket while it walks them (50-150 ms at 1,000 phones). What was loaded at start is never garbage:
# it leaves the collector's walks; and collections run less often (docs/performance.md).
gc.freeze()
gc.set_threshold(*settings.GC_THRESHOLDS)

# Outermost: the client's address and scheme, so that every limit and check below sees the real ones.
application = TrustedProxyMiddleware(
    ProtocolTypeRouter(
        {
            # GET /metrics (off by default) is answered before Django: no ALLOWED_HOSTS, no HTTPS redirect; the
            # HTTP fallback's streams and POSTs too: no thread per stream (workshop/fallback_http.py).
            "http": MetricsEndpoint(BodyLimitMiddleware(FallbackRouter(django_asgi_app))),
            # The dashboards' route carries the auth stack itself (workshop/routing.py): phones need none.
            "websocket": SiteOriginValidator(URLRouter(websocket_urlpatterns)),
        }
    )
)
