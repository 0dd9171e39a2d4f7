"""A marketer builds a journey from scratch in a real browser: "Product Added with category
Shoes → wait for Order Completed with the same cart_id up to 1 hour → if timed out: if email
opted in, send the cart email; else exit". Publishing it half done shows its problems; once
published and active, a shopper who adds Shoes to the cart and does not order gets the email
in the Outbox. Then the live journey is edited and published as version 2, while a person in
flight stays on version 1 until moved."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from playwright.sync_api import Page, expect

from campaigns.engine import campaigns_run_due
from campaigns.models import Campaign, Enrollment, Message
from cdp_project.access.actors import Actor
from ingestion import services
from tests.e2e.test_campaigns import post_events
from tests.e2e.test_sources import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def marketer(django_user_model):
    return django_user_model.objects.create_user("marketer", "m@example.com", "s3cret-pass")


@pytest.fixture
def shop(db) -> str:
    return services.source_create(actor=Actor.system("test"), name="Web shop").write_keys.get().key


def _shopper(user: str, cart: str) -> list[dict]:
    return [
        {
            "messageId": f"identify-{user}",
            "type": "identify",
            "userId": user,
            "traits": {
                "email": f"{user}@example.com",
                "first_name": user.title(),
                "email_consent": True,
            },
        },
        {
            "messageId": f"added-{user}",
            "type": "track",
            "userId": user,
            "event": "Product Added",
            "properties": {
                "sku": "BOOT-1",
                "name": "Alpine boot",
                "price": 120,
                "category": "Shoes",
                "cart_id": cart,
            },
        },
    ]


def _add(page: Page, where: str, label: str, kind: str) -> None:
    """Choose a step type in the "add" control of `where` (a CSS scope) and add it."""
    control = page.locator(where).locator("form.add-step").first
    control.get_by_label(label).select_option(label=kind)
    control.get_by_role("button", name="Add").click()


def test_a_marketer_builds_publishes_and_runs_a_journey_then_versions_it(
    page: Page, live_server, marketer, shop
):
    # Events first, so the catalog knows the activities and their properties.
    post_events(live_server.url, shop, *_shopper("early", "c0"))
    log_in(page, live_server.url)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Campaigns").click()
    new = page.locator("#new-journey")
    new.get_by_label("Name").fill("Shoes left in the cart")
    new.get_by_label("Start from").select_option(label="From scratch")
    new.get_by_role("button", name="Create the journey").click()
    expect(page.get_by_role("heading", name="Journey: Shoes left in the cart")).to_be_visible()
    journey = Campaign.objects.get(name="Shoes left in the cart")

    # The trigger: Product Added (by its role) where category is Shoes.
    page.get_by_role("link", name="Edit the trigger").click()
    trigger = page.locator("#trigger")
    # The picker narrows as the marketer types.
    trigger.get_by_label("Find an activity").fill("added to cart")
    expect(trigger.get_by_label("Activity", exact=True)).to_have_value("role:product_added")
    trigger.get_by_label("Property 1").fill("category")
    trigger.get_by_label("Comparison 1").select_option("equals")
    trigger.get_by_label("Value 1", exact=True).fill("Shoes")
    trigger.get_by_role("button", name="Save the trigger").click()
    expect(page.get_by_role("status")).to_contain_text("The trigger is saved.")
    expect(trigger).to_contain_text(
        "When someone does any “Product added to cart” activity where category equals Shoes"
    )

    # The template's email goes; a wait for the order comes first.
    page.locator("#step-email").get_by_role("button", name="Remove").click()
    expect(page.get_by_role("status")).to_contain_text("The step is removed.")
    _add(page, "#steps", "Add a step at the start", "Wait for an activity")
    form = page.locator("#step-wait_for_1 form.step-form")
    form.get_by_label("Activity", exact=True).select_option(
        label="Any activity with role “Order completed”"
    )
    form.get_by_label("With the same").fill("cart_id")
    form.get_by_label("Up to").fill("1")
    form.get_by_label("Unit").select_option("hours")
    form.get_by_role("button", name="Save the step").click()
    card = page.locator("#step-wait_for_1 .step-card").first
    expect(card).to_contain_text(
        "Wait up to 1 hour for any “Order completed” activity with the same cart_id"
    )

    # Timed out: a condition split, added and (not yet) filled in.
    timed_out = page.get_by_role("region", name="Branch timed out of wait_for_1")
    timed_out.locator("form.add-step").first.get_by_label("Add a step here").select_option(
        label="Condition split"
    )
    timed_out.locator("form.add-step").first.get_by_role("button", name="Add").click()
    expect(page.locator("#step-if_1 form.step-form")).to_be_visible()

    # Publishing it now is refused, with the problem named at its step.
    page.get_by_role("button", name="Publish the draft").click()
    expect(page.get_by_role("status")).to_contain_text("Not published: 1 problem")
    expect(page.locator("#problems")).to_contain_text(
        "Step “if_1”: a condition split needs a condition."
    )
    expect(page.locator("#step-if_1 .step-problems").first).to_contain_text("needs a condition")
    assert not journey.versions.exists()

    page.locator("#step-if_1").get_by_role("link", name="Edit").first.click()
    form = page.locator("#step-if_1 form.step-form")
    form.get_by_label("Consent").select_option(label="Opted in to email")
    form.get_by_role("button", name="Save the step").click()
    expect(page.locator("#step-if_1 .step-card").first).to_contain_text("If opted in to email")

    _add(page, "section[aria-label='Branch yes of if_1']", "Add a step here", "Send")
    form = page.locator("#step-send_1 form.step-form")
    form.get_by_label("Subject").fill("Your shoes are waiting")
    form.get_by_label("HTML body").fill(
        "<p>Hi {{ profile.first_name }}, {{ cart.count }} item(s) wait.</p>"
    )
    form.get_by_label("Text body").fill(
        "Hi {{ profile.first_name }}: {% for l in cart.lines %}{{ l.name }}{% endfor %}"
    )
    form.get_by_label("Products it lists").select_option("cart")
    form.get_by_role("button", name="Save the step").click()
    expect(page.locator("#step-send_1 .step-card").first).to_contain_text(
        "Send the email “Your shoes are waiting” (marketing)"
    )
    _add(page, "section[aria-label='Branch no of if_1']", "Add a step here", "Exit")
    expect(page.locator("#step-exit_1")).to_contain_text("Exit the journey")
    expect(page.locator("#problems")).to_contain_text("Nothing: the draft can be published.")

    # On a phone the branches stack, and nothing runs off the side.
    page.set_viewport_size({"width": 390, "height": 900})
    yes = page.get_by_role("region", name="Branch yes of wait_for_1").bounding_box()
    late = page.get_by_role("region", name="Branch timed out of wait_for_1").bounding_box()
    assert yes and late and late["y"] >= yes["y"] + yes["height"] - 1
    assert page.evaluate("document.querySelector('#steps').scrollWidth") <= 390
    page.set_viewport_size({"width": 1440, "height": 900})

    page.get_by_role("button", name="Publish the draft").click()
    expect(page.get_by_role("status")).to_contain_text("Version 1 is published")
    page.get_by_role("button", name="Activate").click()
    expect(page.get_by_role("status")).to_contain_text("is active")
    expect(page.locator("#campaign-status")).to_have_text("Active")

    # A shopper adds Shoes and does not order: an hour later, the cart email.
    post_events(live_server.url, shop, *_shopper("ann", "c1"))
    ann = Enrollment.objects.get(campaign=journey, profile__user_id="ann")
    assert ann.node == "wait_for_1" and ann.version.number == 1
    with time_machine.travel(datetime.now(UTC) + timedelta(minutes=61)):
        assert campaigns_run_due().sent == 1
    message = Message.objects.get(campaign=journey)
    assert message.recipient == "ann@example.com"
    page.goto(f"{live_server.url}/campaigns/outbox/")
    row = page.locator("table.outbox tbody tr").first
    expect(row).to_contain_text("ann@example.com")
    row.get_by_role("link", name="Your shoes are waiting").click()
    expect(page.locator("#message-text")).to_contain_text("Alpine boot")

    # Another shopper is in flight on version 1 when the live journey is edited.
    post_events(live_server.url, shop, *_shopper("bob", "c2"))
    bob = Enrollment.objects.get(campaign=journey, profile__user_id="bob")
    page.goto(f"{live_server.url}/campaigns/{journey.pk}/journey/")
    page.locator("#step-wait_for_1").get_by_role("link", name="Edit").first.click()
    form = page.locator("#step-wait_for_1 form.step-form")
    form.get_by_label("Up to").fill("2")
    form.get_by_role("button", name="Save the step").click()
    expect(page.locator("#draft-state")).to_contain_text(
        "The draft differs from the live version 1."
    )
    journey.refresh_from_db()
    assert journey.version.definition["steps"][0]["timeout_seconds"] == 3600  # live unchanged
    page.get_by_role("button", name="Publish the draft").click()
    expect(page.get_by_role("status")).to_contain_text("Version 2 is published")
    expect(page.locator("#version-1")).to_contain_text("1")
    expect(page.locator("#version-2 td.num")).to_have_text("0")
    expect(page.locator("#version-1 td.num")).to_have_text("1")
    bob.refresh_from_db()
    assert bob.version.number == 1
    page.get_by_role("button", name="Move people in flight to the latest version").click()
    expect(page.get_by_role("status")).to_contain_text("1 person in flight moved to version 2")
    expect(page.locator("#version-2 td.num")).to_have_text("1")
    bob.refresh_from_db()
    assert bob.version.number == 2


def test_the_editor_works_from_the_keyboard_without_reloading_the_page(
    page: Page, live_server, marketer
):
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/campaigns/")
    new = page.locator("#new-journey")
    new.get_by_label("Name").fill("Keyboard")
    new.get_by_label("Start from").select_option(label="From scratch")
    new.get_by_role("button", name="Create the journey").click()
    expect(page.get_by_role("heading", name="Journey: Keyboard")).to_be_visible()
    page.evaluate("window.notReloaded = true")

    # The first step type is a wait: focus the control, tab to its button, press Enter.
    page.get_by_label("Add a step at the start").focus()
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    # The new step's form opens with its first field focused; typing and Enter saves it.
    amount = page.locator("#step-wait_1 form.step-form").get_by_label("Wait", exact=True)
    expect(amount).to_be_focused()
    amount.press("Control+a")
    page.keyboard.type("2")
    page.keyboard.press("Enter")
    expect(page.locator("#step-wait_1 .step-card").first).to_contain_text("Wait 2 hours")
    expect(page.get_by_role("status")).to_contain_text("“Wait” is saved.")
    assert page.evaluate("window.notReloaded === true")  # htmx swapped the page's main part
