"""What Segment's and RudderStack's own SDKs fetch before they send, served per write key, so
a site or an app that already uses them changes only the hosts:

- Segment's settings, `/v1/projects/<writeKey>/settings`: analytics.js (browser) and
  analytics-kotlin / analytics-swift read them from their CDN host, then post to the
  `apiHost` the settings name.
- RudderStack's source configuration, `/sourceConfig`: the JavaScript SDK v3 reads it from
  its `configUrl` and sends nothing until it has one.
- Segment's analytics.js itself, `/analytics.js/v1/<writeKey>/analytics.min.js`, the path the
  snippet loads from its CDN host, and the chunks it loads lazily from
  `/analytics-next/bundles/`: Segment's official standalone build, shipped unmodified in
  `ingestion/vendor/analytics-next/` with its licence (docs/ingest.md says why). It is kept
  out of the static files: `collectstatic` would rename it and rewrite its source-map
  comment, and the snippet needs these exact paths.

Every answer is public (a preflight or a script tag carries no credentials) and says no more
than the SDKs need: whether the key is usable, and where to send.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotModified,
    JsonResponse,
)
from django.http.request import split_domain_port, validate_host
from django.utils.cache import patch_vary_headers
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe

from cdp_project.core.client import is_trusted_proxy
from cdp_project.core.errors import ApplicationError
from ingestion import selectors
from ingestion.apis import CORS_ALLOWED_HEADERS, _basic_auth_key
from ingestion.models import Source

# The settings change only when a key is revoked or a source disabled: a minute's cache keeps
# every page view from asking, and a revocation reaches browsers within the minute.
SETTINGS_CACHE_SECONDS = 60
# The build changes only with a release of the app: an hour, revalidated by its ETag.
BUILD_CACHE_SECONDS = 3600
BUILD_FOLDER = Path(__file__).resolve().parent / "vendor" / "analytics-next"
BUILD_SCRIPT = "standalone.js"
_CHUNK_NAME = re.compile(r"^[A-Za-z0-9_-]+\.bundle\.[0-9a-f]+\.js$")


def public_base(request: HttpRequest) -> tuple[str, str]:
    """The scheme and host the request reached the app at: those a trusted proxy forwarded
    (`X-Forwarded-Proto`, `X-Forwarded-Host`), else the request's own. A forwarded host
    outside `ALLOWED_HOSTS` is ignored, as Django ignores it for the request itself."""
    # Django's scheme is "http" or "https"; the stubs allow None.
    scheme, host = request.scheme or "http", request.get_host()
    remote = request.META.get("REMOTE_ADDR", "")
    if remote and is_trusted_proxy(remote, settings.INGEST_TRUSTED_PROXIES):
        proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        if proto in ("http", "https"):
            scheme = proto
        forwarded = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip()
        domain, _port = split_domain_port(forwarded)
        if domain and validate_host(domain, settings.ALLOWED_HOSTS):
            host = forwarded
    return scheme, host


def _source_for(key: Any) -> Source | None:
    if not isinstance(key, str) or not key:
        return None
    return selectors.source_for_write_key(key=key)


def _public(response: HttpResponse, *, max_age: int) -> HttpResponse:
    response["Access-Control-Allow-Origin"] = "*"
    response["Cache-Control"] = f"public, max-age={max_age}"
    return response


@require_safe
def segment_settings(request: HttpRequest, write_key: str) -> HttpResponse:
    """Segment's per-source settings, pointing analytics.js and the mobile SDKs back here.

    Only the Segment.io integration is listed (no destinations, so nothing loads code from
    elsewhere); no tracking plan, middleware or remote plugin (each would load a chunk); the
    SDK's own metrics sampled at 0. An unusable key gets 404, as Segment's CDN answers one it
    does not know: analytics.js then fails to load, the mobile SDKs keep their defaults.
    """
    source = _source_for(write_key)
    if source is None:
        response = JsonResponse({"message": "Not Found"}, status=404)
        return _public(response, max_age=0)
    scheme, host = public_base(request)
    body = {
        "integrations": {
            "Segment.io": {
                "apiKey": write_key,
                "apiHost": f"{host}/v1",
                "protocol": scheme,
                "unbundledIntegrations": [],
                "addBundledMetadata": True,
                "maybeBundledConfigIds": {},
            }
        },
        "plan": {},
        "edgeFunction": {},
        "analyticsNextEnabled": True,
        "middlewareSettings": {},
        "enabledMiddleware": {},
        "metrics": {"sampleRate": 0},
        "legacyVideoPluginsEnabled": False,
        "remotePlugins": [],
    }
    response = JsonResponse(body)
    patch_vary_headers(response, ["Host", "X-Forwarded-Host", "X-Forwarded-Proto"])
    return _public(response, max_age=SETTINGS_CACHE_SECONDS)


@csrf_exempt
def rudderstack_source_config(request: HttpRequest) -> HttpResponse:
    """RudderStack's source configuration: the source, enabled, with no destinations and the
    SDK's error and metrics reporting off. The SDK sends its write key as HTTP Basic (so its
    request is preflighted) and in `?writeKey=`. An unusable key gets 401, as RudderStack's
    control plane answers: the SDK then logs that it could not load and sends nothing."""
    if request.method == "OPTIONS":
        response = HttpResponse(status=204)
        response["Access-Control-Allow-Methods"] = "GET, OPTIONS"
        response["Access-Control-Allow-Headers"] = request.headers.get(
            "Access-Control-Request-Headers", CORS_ALLOWED_HEADERS
        )
        response["Access-Control-Max-Age"] = "86400"
        return _public(response, max_age=0)
    if request.method not in ("GET", "HEAD"):
        response = JsonResponse(
            {"success": False, "code": "method_not_allowed", "message": "Use GET."}, status=405
        )
        response["Allow"] = "GET, HEAD, OPTIONS"
        return response
    try:
        key = _basic_auth_key(request) or request.GET.get("writeKey")
    except ApplicationError:  # a malformed Authorization header: the answer to a wrong key
        key = None
    source = _source_for(key)
    if source is None:
        response = JsonResponse(
            {
                "success": False,
                "code": "invalid_write_key",
                "message": "The write key is unknown, revoked, or its source is disabled.",
            },
            status=401,
        )
        return _public(response, max_age=0)
    body = {
        "isHosted": True,
        "source": {
            "id": str(source.pk),
            "name": source.name,
            "writeKey": key,
            "workspaceId": "cdp",
            "enabled": True,
            "deleted": False,
            "config": {
                "statsCollection": {
                    "errors": {"enabled": False},
                    "metrics": {"enabled": False},
                }
            },
            "destinations": [],
        },
    }
    return _public(JsonResponse(body), max_age=SETTINGS_CACHE_SECONDS)


@dataclass(frozen=True)
class BuildFile:
    body: bytes
    gzipped: bytes
    etag: str


@lru_cache(maxsize=32)
def _build_file(name: str) -> BuildFile:
    path = BUILD_FOLDER / name
    if not path.is_file():
        raise Http404(name)
    body = path.read_bytes()
    etag = f'"{hashlib.sha256(body).hexdigest()[:16]}"'
    return BuildFile(body=body, gzipped=gzip.compress(body, mtime=0), etag=etag)


def _serve_build(request: HttpRequest, name: str) -> HttpResponse:
    script = _build_file(name)
    if request.headers.get("If-None-Match") == script.etag:
        response: HttpResponse = HttpResponseNotModified()
    elif "gzip" in request.headers.get("Accept-Encoding", ""):
        response = HttpResponse(script.gzipped, content_type="text/javascript; charset=utf-8")
        response["Content-Encoding"] = "gzip"
    else:
        response = HttpResponse(script.body, content_type="text/javascript; charset=utf-8")
    response["ETag"] = script.etag
    patch_vary_headers(response, ["Accept-Encoding"])
    return _public(response, max_age=BUILD_CACHE_SECONDS)


@require_safe
def segment_analytics_js(request: HttpRequest, write_key: str) -> HttpResponse:
    """analytics.js for the snippet. The same build for every key, as it reads the key from
    the snippet: asking the database here would only slow the page down, and the settings
    it fetches next refuse an unusable key."""
    return _serve_build(request, BUILD_SCRIPT)


@require_safe
def segment_analytics_chunk(request: HttpRequest, name: str) -> HttpResponse:
    if not _CHUNK_NAME.match(name):
        raise Http404(name)
    return _serve_build(request, name)


@dataclass(frozen=True)
class SwitchLine:
    """One line a site that already uses Segment's or RudderStack's SDK changes, and where."""

    key: str
    sdk: str
    where: str
    code: str


def sdk_switch_lines(*, write_key: str, base_url: str) -> list[SwitchLine]:
    """The lines to change, with the key and this app's address (docs/ingest.md)."""
    base = base_url.rstrip("/")
    scheme, _, host = base.partition("://")
    key = json.dumps(write_key).replace("</", "<\\/")
    return [
        SwitchLine(
            "segment-snippet-src",
            "Segment's snippet (analytics.js)",
            "the script's address, in analytics.load",
            f't.src="{base}/analytics.js/v1/" + key + "/analytics.min.js";',
        ),
        SwitchLine(
            "segment-snippet-cdn",
            "Segment's snippet (analytics.js)",
            "added before analytics.load(…)",
            f'analytics._cdn="{base}";',
        ),
        SwitchLine(
            "segment-npm-cdn",
            "@segment/analytics-next from npm",
            "the settings host, cdnURL",
            f'AnalyticsBrowser.load({{ writeKey: {key}, cdnURL: "{base}" }})',
        ),
        SwitchLine(
            "segment-npm-api",
            "@segment/analytics-next from npm",
            "or, keeping another settings host, the API host",
            f'integrations: {{ "Segment.io": {{ apiHost: "{host}/v1", protocol: "{scheme}" }} }}',
        ),
        SwitchLine(
            "rudderstack",
            "RudderStack's JavaScript SDK v3",
            "the data plane URL and configUrl",
            f'rudderanalytics.load({key}, "{base}", {{ configUrl: "{base}" }});',
        ),
    ]
