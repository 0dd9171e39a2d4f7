"""A marketer in a real browser: imports customers and orders from CSV and reads the report,
then deletes a customer with their ids suppressed."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from ingestion.models import Event
from profiles.models import Profile, ProfileDeletion, SuppressedIdentity
from tests.e2e.test_sources import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CUSTOMERS = b"""user_id,E-mail,First name,email_consent
u1,ada@example.com,Ada,yes
u2,grace@example.com,Grace,maybe
u3,alan@example.com,Alan,no
"""
ORDERS = b"""order_id,user_id,placed_at,total,currency
O-1,u1,2015-06-01,20,EUR
O-2,u3,2024-01-02,35,EURO
"""


@pytest.fixture
def marketer(django_user_model):
    return django_user_model.objects.create_user("marketer", "m@example.com", "s3cret-pass")


def test_import_customers_and_orders_then_delete_a_customer(page: Page, live_server, marketer):
    log_in(page, live_server.url)
    page.goto(live_server.url + "/profiles/import/")
    expect(page.get_by_role("heading", name="Import customers and orders")).to_be_visible()

    customers = page.locator("#import-profiles")
    customers.get_by_label("CSV file").set_input_files(
        {"name": "customers.csv", "mimeType": "text/csv", "buffer": CUSTOMERS}
    )
    customers.get_by_role("button", name="Import customers").click()
    report = page.get_by_role("status").filter(has_text="import report")
    expect(report).to_contain_text("Lines 2, 4")
    refused = page.locator("table.refusals tr", has_text="email_consent")
    expect(refused.locator("td").first).to_have_text("3")

    orders = page.locator("#import-orders")
    orders.get_by_label("CSV file").set_input_files(
        {"name": "orders.csv", "mimeType": "text/csv", "buffer": ORDERS}
    )
    orders.get_by_role("button", name="Import past orders").click()
    expect(page.locator("table.refusals")).to_contain_text("currency “EURO”")
    ada = Profile.objects.get(user_id="u1")
    order = Event.objects.get(name="Order Completed")
    assert (order.profile_id, order.timestamp.year) == (ada.pk, 2015)

    page.goto(f"{live_server.url}/profiles/{ada.pk}/delete/")
    expect(page.locator("ul.deletion")).to_contain_text("user_id: u1")
    expect(page.get_by_label("Suppress its ids")).to_be_checked()
    page.get_by_role("button", name="Delete permanently").click()
    expect(page.get_by_role("status")).to_contain_text(f"Profile #{ada.pk} deleted")
    assert not Profile.objects.filter(pk=ada.pk).exists()
    assert ProfileDeletion.objects.get().suppressed
    assert SuppressedIdentity.objects.count() == 2  # user_id and email
