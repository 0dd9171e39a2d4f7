"""The web tracker: one small script served by the app (`/cdp.js`), and the snippet that loads
it with a source's write key.

The script's source is `static/tracker/cdp.js`, readable as written; it is served minified and
gzipped, from memory, under a stable address, so a snippet pasted into a site keeps working
when the app's static files are renamed by `collectstatic`.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import rjsmin
from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.utils.cache import patch_vary_headers
from django.utils.html import format_html
from django.views.decorators.http import require_safe

SCRIPT_PATH = "tracker/cdp.js"
# Short enough that a new version reaches every site within minutes, long enough that a
# visitor's browser asks once per visit.
CACHE_SECONDS = 300

# The snippet defines `window.analytics` as a queue at once, so calls made before the script
# arrives are kept, then loads the script without blocking the page.
SNIPPET = """<script{nonce}>
!function(){{var a=window.analytics=window.analytics||[];if(a.initialized||a.invoked)return;\
a.invoked=!0;["identify","track","page","group","alias","reset","consent","ready","flush"]\
.forEach(function(m){{a[m]=function(){{a.push([m].concat([].slice.call(arguments)));return a}}}});\
a.load=function(k,o){{a._writeKey=k;a._options=o||{{}};var s=document.createElement("script");\
s.async=!0;s.src=a._options.host+"/cdp.js";document.head.appendChild(s)}};\
a.load({write_key},{options})}}();
</script>"""


@dataclass(frozen=True)
class Script:
    body: bytes
    gzipped: bytes
    etag: str


@lru_cache(maxsize=1)
def tracker_script() -> Script:
    path = finders.find(SCRIPT_PATH)
    if not path:
        raise FileNotFoundError(SCRIPT_PATH)
    source = Path(path).read_text(encoding="utf-8")
    body = rjsmin.jsmin(source, keep_bang_comments=True).encode("utf-8")
    digest = hashlib.sha256(body).hexdigest()[:16]
    return Script(body=body, gzipped=gzip.compress(body, mtime=0), etag=f'"{digest}"')


def tracker_snippet(
    *, write_key: str, host: str, consent_required: bool = False, nonce: str = ""
) -> str:
    """The HTML a site owner pastes into every page, before `</head>`.

    `nonce` is for a page under a Content-Security-Policy with a script nonce (the demo
    shop): the snippet is an inline script.
    """
    options: dict[str, object] = {"host": host.rstrip("/")}
    if consent_required:
        options["consentRequired"] = True
    # JSON is JavaScript; `</` is escaped so no value can close the script element.
    return SNIPPET.format(
        write_key=_script_json(write_key),
        options=_script_json(options),
        nonce=format_html(' nonce="{}"', nonce) if nonce else "",
    )


def _script_json(value: object) -> str:
    return json.dumps(value, separators=(",", ":")).replace("</", "<\\/")


@require_safe
def tracker_script_view(request: HttpRequest) -> HttpResponse:
    script = tracker_script()
    if request.headers.get("If-None-Match") == script.etag:
        response: HttpResponse = HttpResponseNotModified()
    elif "gzip" in request.headers.get("Accept-Encoding", ""):
        response = HttpResponse(script.gzipped, content_type="text/javascript; charset=utf-8")
        response["Content-Encoding"] = "gzip"
    else:
        response = HttpResponse(script.body, content_type="text/javascript; charset=utf-8")
    response["ETag"] = script.etag
    response["Cache-Control"] = f"public, max-age={CACHE_SECONDS}"
    response["Access-Control-Allow-Origin"] = "*"
    patch_vary_headers(response, ["Accept-Encoding"])
    return response
