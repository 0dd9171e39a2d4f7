"""The demo storefront: a small shop of the demo catalog, instrumented with the web tracker.

A newcomer shops in one tab and watches the CDP in another. Pages are rendered here; the
cart, the shopper's login and every event live in the browser (`static/storefront/shop.js`),
as on a real site that pastes the tracker's snippet: the shop sends nothing to the CDP but
through `/cdp.js`. Its events go to the source "Demo storefront", made on first use.
"""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings
from django.db import IntegrityError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.text import slugify
from django.views.decorators.http import require_safe

from campaigns.models import Campaign
from cdp_project.access.actors import Actor
from cdp_project.devtools.demo_store import CATEGORIES, DemoProduct, demo_catalog
from ingestion import selectors, services
from ingestion.models import Source, WriteKey
from ingestion.tracker import tracker_snippet

STOREFRONT_SOURCE = "Demo storefront"
# Prices are whole numbers less a cent; the demo store's currency.
CURRENCY = "USD"
FREE_SHIPPING_FROM = 75
SHIPPING = 4.95


def storefront_write_key() -> WriteKey:
    """The active key of the storefront's source, making the source (a web source) or a
    key when there is none."""
    source = Source.objects.filter(name=STOREFRONT_SOURCE).first()
    if source is None:
        try:
            source = services.source_create(
                actor=Actor.system("demo:storefront"), name=STOREFRONT_SOURCE, kind=Source.Kind.WEB
            )
        except IntegrityError:  # another process made it first
            source = Source.objects.get(name=STOREFRONT_SOURCE)
    key = selectors.source_active_write_key(source=source)
    if key is None:
        key = services.write_key_create(
            actor=Actor.system("demo:storefront"), source=source, label="Demo storefront"
        )
    return key


def storefront_link(request: HttpRequest) -> dict[str, bool]:
    """The marketer UI links to the shop while it is on."""
    return {"storefront_enabled": settings.STOREFRONT_ENABLED}


@lru_cache(maxsize=4)
def _catalog(base_url: str) -> tuple[DemoProduct, ...]:
    return tuple(demo_catalog(base_url=base_url))


def _base_url(request: HttpRequest) -> str:
    return request.build_absolute_uri("/").rstrip("/")


def _categories() -> list[dict[str, str]]:
    return [{"name": name, "slug": slugify(name)} for name in CATEGORIES]


def _product_data(product: DemoProduct) -> dict[str, object]:
    return product.item()


def _render(request: HttpRequest, template: str, context: dict[str, object]) -> HttpResponse:
    if not settings.STOREFRONT_ENABLED:
        raise Http404("The demo storefront is turned off (STOREFRONT_ENABLED).")
    key = storefront_write_key()
    context = {
        "categories": _categories(),
        "tracker_snippet": tracker_snippet(
            write_key=key.key,
            host=_base_url(request),
            consent_required=settings.STOREFRONT_CONSENT_REQUIRED,
            # Set by django-csp's CSPMiddleware, which types no request attribute.
            nonce=str(request.csp_nonce),  # type: ignore[attr-defined]
        ),
        "source": key.source,
        "consent_required": settings.STOREFRONT_CONSENT_REQUIRED,
        "currency": CURRENCY,
        "shipping": {"free_from": FREE_SHIPPING_FROM, "price": SHIPPING},
        **context,
    }
    return render(request, template, context)


@require_safe
def shop_home(request: HttpRequest) -> HttpResponse:
    catalog = _catalog(_base_url(request))
    # One product of each category, then the next one: a varied front page.
    featured = [catalog[n] for n in range(0, 2 * len(CATEGORIES))]
    return _render(request, "storefront/home.html", {"products": featured})


@require_safe
def shop_category(request: HttpRequest, slug: str) -> HttpResponse:
    category = next((c for c in _categories() if c["slug"] == slug), None)
    if category is None:
        raise Http404("No such category.")
    products = [p for p in _catalog(_base_url(request)) if p.category == category["name"]]
    items = [{**_product_data(p), "position": n + 1} for n, p in enumerate(products)]
    return _render(
        request,
        "storefront/category.html",
        {
            "category": category,
            "products": products,
            "list_event": {"list_id": slug, "category": category["name"], "products": items},
        },
    )


@require_safe
def shop_product(request: HttpRequest, sku: str) -> HttpResponse:
    catalog = _catalog(_base_url(request))
    product = next((p for p in catalog if p.sku == sku), None)
    if product is None:
        raise Http404("No such product.")
    related = [p for p in catalog if p.category == product.category and p.sku != sku][:4]
    return _render(
        request,
        "storefront/product.html",
        {"product": product, "product_data": _product_data(product), "related": related},
    )


@require_safe
def shop_cart(request: HttpRequest) -> HttpResponse:
    return _render(request, "storefront/cart.html", {})


@require_safe
def shop_checkout(request: HttpRequest) -> HttpResponse:
    confirming = Campaign.objects.filter(
        kind=Campaign.Kind.ORDER_CONFIRMATION, status=Campaign.Status.ACTIVE
    ).exists()
    return _render(request, "storefront/checkout.html", {"confirmation_active": confirming})


@require_safe
def shop_login(request: HttpRequest) -> HttpResponse:
    return _render(request, "storefront/login.html", {})
