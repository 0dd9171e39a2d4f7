"""The WSGI application the web server (gunicorn) loads in each of its processes."""

import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cdp_project.settings")

application = get_wsgi_application()

# Import every view now, then move everything loaded so far (Django, the apps, their
# libraries) out of the garbage collector's sight: those objects live as long as the process.
# Otherwise each full collection walks them all, about 50 ms of CPU a few times a minute
# under ingest load, about a tenth of a batch request's cost (docs/benchmark.md).
get_resolver().url_patterns  # noqa: B018 - imports the URLconf and its views
gc.freeze()
