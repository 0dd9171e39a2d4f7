"""The catalog pages, as full pages and as htmx fragments."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from ingestion.models import Activity, ActivityProperty, Event, Product, ProfileAttribute
from tests.ingestion.test_catalog import ORDER, process, track

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def signed_in(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("marketer", "m@example.com", "pw"))
    return client


@pytest.fixture
def catalog(ingest):
    ingest(
        "batch",
        {
            "batch": [
                track("Order Completed", ORDER),
                track("Order Completed", {**ORDER, "total": "129.50"}),
                track("Newsletter Opened", {"campaign": "Spring"}),
                {"type": "identify", "userId": "u1", "traits": {"plan": "gold", "email": "a@b.co"}},
                {"type": "page", "name": "Home", "userId": "u1", "properties": {"path": "/"}},
            ]
        },
    )
    process()


def test_activity_list_shows_each_activity_with_role_volume_and_sparkline(signed_in, catalog):
    html = signed_in.get("/activities/").content.decode()
    assert "Order Completed" in html and "Newsletter Opened" in html and "Page viewed" in html
    assert "Order completed" in html  # its role
    assert html.count('class="sparkline"') == 3


def test_activity_list_searches_and_filters(signed_in, catalog):
    html = signed_in.get("/activities/?q=newsletter").content.decode()
    assert "Newsletter Opened" in html and "Order Completed" not in html
    html = signed_in.get("/activities/?role=any").content.decode()
    assert "Order Completed" in html and "Newsletter Opened" not in html
    html = signed_in.get("/activities/?kind=page").content.decode()
    assert "Page viewed" in html and "Order Completed" not in html


def test_hidden_activities_are_listed_only_under_their_filter(signed_in, catalog):
    Activity.objects.filter(name="Newsletter Opened").update(status="hidden")
    assert "Newsletter Opened" not in signed_in.get("/activities/").content.decode()
    html = signed_in.get("/activities/?status=hidden").content.decode()
    assert "Newsletter Opened" in html and "Order Completed" not in html


def test_activity_list_answers_htmx_with_its_rows_only(signed_in, catalog):
    response = signed_in.get("/activities/?q=order", headers={**HTMX, "HX-Target": "activity-rows"})
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="activity-rows"')
    assert "<html" not in html and "Order Completed" in html


def test_activity_page_shows_properties_types_drift_examples_and_code(signed_in, catalog):
    activity = Activity.objects.get(name="Order Completed")
    html = signed_in.get(f"/activities/{activity.pk}/").content.decode()
    assert "products[].price" in html and "shipping.address.city" in html
    assert "type changed: number 1 · string 1" in html  # `total`
    assert "SKU-1" in html  # an example
    assert "analytics.track(&quot;Order Completed&quot;" in html
    assert "/v1/track" in html and "analytics.write_key" in html
    assert "o-1" in html  # the recent events
    # Sorted by the time they happened, and showing that time, not arrival.
    event = Event.objects.filter(name="Order Completed").latest("timestamp")
    assert f'datetime="{event.timestamp.isoformat()}"' in html


def test_activity_settings_are_saved_and_blocking_says_so(signed_in, catalog):
    activity = Activity.objects.get(name="Newsletter Opened")
    response = signed_in.post(
        f"/activities/{activity.pk}/",
        {"display_name": "Newsletter open", "description": "", "role": "", "status": "blocked"},
        follow=True,
    )
    assert "is blocked: its events are refused" in response.content.decode()
    activity.refresh_from_db()
    assert (activity.display_name, activity.status) == ("Newsletter open", "blocked")


def test_invalid_activity_settings_get_400_with_the_error(signed_in, catalog):
    activity = Activity.objects.get(name="Newsletter Opened")
    response = signed_in.post(f"/activities/{activity.pk}/", {"status": "deleted"})
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()


def test_property_edit_over_htmx_answers_the_row(signed_in, catalog):
    price = ActivityProperty.objects.get(activity__name="Order Completed", path="total")
    response = signed_in.post(
        price.get_edit_url(),
        {"display_name": "Order total", "pinned_type": "number", "personal": "on"},
        headers=HTMX,
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith(f'<tr id="field-{price.pk}"')
    assert "Saved" in html and "pinned" in html and "personal" in html
    price.refresh_from_db()
    assert (price.display_name, price.pinned_type, price.personal, price.examples) == (
        "Order total",
        "number",
        True,
        [],
    )


def test_property_edit_without_htmx_redirects_back(signed_in, catalog):
    field = ActivityProperty.objects.get(activity__name="Order Completed", path="order_id")
    response = signed_in.post(field.get_edit_url(), {"display_name": "Order"})
    assert response.status_code == 302
    assert response["Location"].endswith("#properties")


def test_property_edit_refuses_an_unknown_type(signed_in, catalog):
    field = ActivityProperty.objects.get(activity__name="Order Completed", path="order_id")
    response = signed_in.post(field.get_edit_url(), {"pinned_type": "money"}, headers=HTMX)
    assert response.status_code == 400
    field.refresh_from_db()
    assert field.pinned_type == ""


def test_profile_attributes_page_shows_types_and_coverage(signed_in, catalog):
    html = signed_in.get("/activities/attributes/").content.decode()
    assert "plan" in html and "100%" in html and "gold" in html
    # `email` is personal from the start: its value is never shown.
    assert "a@b.co" not in html
    attribute = ProfileAttribute.objects.get(path="plan")
    response = signed_in.post(attribute.get_edit_url(), {"display_name": "Plan"}, headers=HTMX)
    assert response.status_code == 200 and "Plan" in response.content.decode()


def test_products_page_lists_and_searches_products(signed_in, catalog):
    html = signed_in.get("/activities/products/").content.decode()
    assert "Trail shoe" in html and "Sock" in html
    html = signed_in.get("/activities/products/?q=sku-2").content.decode()
    assert "Sock" in html and "Trail shoe" not in html


def test_products_csv_upload_reports_imported_and_skipped_rows(signed_in):
    upload = SimpleUploadedFile(
        "products.csv", b"sku,name,price\nA,Hat,10\nB,Cap,ten\n", content_type="text/csv"
    )
    response = signed_in.post("/activities/products/", {"file": upload}, follow=True)
    html = response.content.decode()
    assert "Imported 1 product: 1 new, 0 updated." in html
    assert "Line 3 skipped: The price" in html
    assert Product.objects.get(key="A").name == "Hat"


def test_an_unreadable_csv_gets_400_with_the_reason(signed_in):
    upload = SimpleUploadedFile("products.csv", b"name,price\nHat,10\n", content_type="text/csv")
    response = signed_in.post("/activities/products/", {"file": upload})
    assert response.status_code == 400
    assert "needs a <code>sku</code>" not in response.content.decode()
    assert "needs a `sku` or a `product_id` column" in response.content.decode()
    assert not Product.objects.exists()


def test_products_are_paged_and_the_pager_keeps_the_search(signed_in):
    Product.objects.bulk_create(Product(key=f"K{i:03}", name=f"Hat {i:03}") for i in range(60))
    html = signed_in.get("/activities/products/?q=hat").content.decode()
    assert "Page 1 of 2 · 60 in all" in html
    assert 'href="?q=hat&amp;page=2"' in html
    html = signed_in.get("/activities/products/?q=hat&page=2").content.decode()
    assert "Hat 059" in html and "Hat 000" not in html


@pytest.mark.parametrize(
    "url",
    [
        "/activities/?q=%00&role=%00&status=%00&kind=%00&page=abc",
        "/activities/attributes/?q=a%00b",
        "/activities/products/?q=%00&page=-5",
    ],
)
def test_odd_query_parameters_are_ignored_not_errors(signed_in, catalog, url):
    assert signed_in.get(url).status_code == 200
