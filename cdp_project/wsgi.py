"""The WSGI application the web server (gunicorn) loads in each of its processes."""

import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cdp_project.settings")

application = get_wsgi_application()

# Import every view now, then move everything loaded so far (Django, the apps, their
# libraries) out of the garbage collector's sight: those objects live as long as the process.
# Otherwise each full collection walks them all: about 50 ms of CPU every hundred or so
# batch requests under load, 0.3 to 0.5 ms a request (docs/benchmark.md). The garbage of the
# start is collected first, so that none of it is kept for the life of the process.
get_resolver().url_patterns  # noqa: B018 - imports the URLconf and its views
gc.collect()
gc.freeze()
