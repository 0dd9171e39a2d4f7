"""The campaign pages: the list and its counts, a campaign's statistics and recent
enrollments, the editor (validation, templates the sandbox refuses, Activate / Pause), the
preview for a real person, the test send, and the Outbox."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client

from campaigns.defaults import campaigns_setup
from campaigns.models import Campaign, Enrollment, Message
from campaigns.selectors import TEST_HEADER
from profiles.models import Profile
from tests.campaigns.conftest import NOW, added, identify, later, ordered, removed, run, send

pytestmark = pytest.mark.django_db

State = Enrollment.State
HTMX = {"HX-Request": "true", "HX-Target": "preview"}
_keys = itertools.count(1)


@pytest.fixture
def marketer(django_user_model):
    return django_user_model.objects.create_user("marketer", "m@example.com", "pw")


@pytest.fixture
def signed_in(marketer) -> Client:
    """The marketer's own browser (the `client` fixture posts to the ingest API)."""
    browser = Client()
    browser.force_login(marketer)
    return browser


@pytest.fixture
def cart(db) -> Campaign:
    campaigns_setup()
    return Campaign.objects.get(kind=Campaign.Kind.ABANDONED_CART)


def form_data(campaign: Campaign, **changes) -> dict:
    """The editor's fields as a browser posts them, for the campaign as saved."""
    data = {
        "name": campaign.name,
        "wait_value": campaign.wait_seconds // 60,
        "wait_unit": "minutes",
        "audience": campaign.audience_id or "",
        "channel": campaign.channel,
        "webhook_url": campaign.webhook_url,
        "sender_name": campaign.sender_name,
        "sender_email": campaign.sender_email,
        "subject_template": campaign.subject_template,
        "html_template": campaign.html_template,
        "text_template": campaign.text_template,
        "cap_count": campaign.cap_count,
        "cap_hours": campaign.cap_hours,
        "reentry": campaign.reentry,
        "quiet_start": "",
        "quiet_end": "",
        "control_percent": campaign.control_percent,
        "conversion_days": campaign.conversion_days,
    }
    if campaign.quiet_in_profile_zone:
        data["quiet_in_profile_zone"] = "on"
    data.update(changes)
    return data


def enroll(campaign: Campaign, profile: Profile, state: str, reason: str = "", **fields):
    at = fields.pop("at", None) or NOW
    return Enrollment.objects.create(
        campaign=campaign,
        profile=profile,
        state=state,
        reason=reason,
        trigger_at=at,
        due_at=at + timedelta(hours=1),
        created_at=at,
        updated_at=at,
        **fields,
    )


# --- access ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/campaigns/", "/campaigns/{pk}/", "/campaigns/{pk}/edit/", "/campaigns/outbox/"],
)
def test_campaign_pages_need_a_login(client, cart, path):
    response = client.get(path.format(pk=cart.pk))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("path", ["/campaigns/{pk}/status/", "/campaigns/{pk}/test-send/"])
def test_posts_need_a_login(client, cart, path):
    response = client.post(path.format(pk=cart.pk), {"status": "active"})
    assert response.status_code == 302
    assert Campaign.objects.get(pk=cart.pk).status == Campaign.Status.DRAFT


@pytest.mark.parametrize(
    "path", ["/campaigns/{pk}/edit/", "/campaigns/{pk}/status/", "/campaigns/{pk}/test-send/"]
)
def test_posts_without_the_csrf_token_are_refused(marketer, cart, path):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(marketer)
    response = browser.post(
        path.format(pk=cart.pk),
        {**form_data(cart, name="Hijacked"), "status": "active", "address": "x@example.com"},
    )
    assert response.status_code == 403
    cart.refresh_from_db()
    assert (cart.name, cart.status) == ("Abandoned cart", Campaign.Status.DRAFT)
    assert mail.outbox == []


# --- the list ----------------------------------------------------------------------------------


def test_the_list_shows_each_campaign_with_its_settings_and_counts(
    signed_in, cart, clock, django_assert_max_num_queries
):
    ann = Profile.objects.create(user_id="ann", email="ann@example.com")
    bob = Profile.objects.create(user_id="bob", email="bob@example.com")
    enroll(cart, ann, State.SENT)
    enroll(cart, bob, State.SUPPRESSED, "no consent")
    enroll(cart, bob, State.PENDING)
    enroll(cart, ann, State.FAILED, "template error: boom")
    enroll(cart, bob, State.EXITED, "converted: order completed")
    enroll(cart, ann, State.CONTROL)
    enroll(cart, ann, State.SENT, at=NOW - timedelta(days=40))  # before the 30 days
    order = Campaign.objects.get(kind=Campaign.Kind.ORDER_CONFIRMATION)
    enroll(order, ann, State.SENT)

    with django_assert_max_num_queries(8):  # session, user, campaigns, counts: no N+1
        response = signed_in.get("/campaigns/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "Abandoned cart" in html and "Abandoned browse" in html
    row = html[html.index(f'id="campaign-{cart.pk}"') :]
    row = row[: row.index("</tr>")]
    assert "Draft" in row and "Product added to cart" in row and "waits 1 hour" in row
    assert "Everyone" in row
    numbers = [cell.split("<")[0] for cell in row.split('class="num">')[1:]]
    # entered, sent, exited, not sent; failed is marked: every person who entered is told
    assert numbers == ["6", "1", "1", "1", ""]
    assert "1 waiting" in row and "1 held out (control)" in row
    assert '<span class="error">1</span>' in row
    # The kind is not repeated when it is the campaign's name.
    assert '<span class="small muted">marketing · email</span>' in row
    order_row = html[html.index(f'id="campaign-{order.pk}"') :]
    assert "sends at once" in order_row[: order_row.index("</tr>")]


# --- a campaign's page -------------------------------------------------------------------------


def test_the_campaign_page_counts_what_became_of_people(signed_in, cart, clock):
    people = [Profile.objects.create(user_id=f"p{n}", email=f"p{n}@example.com") for n in range(8)]
    enroll(cart, people[0], State.SENT)
    enroll(cart, people[1], State.SENT)
    enroll(cart, people[2], State.EXITED, "converted: order completed")
    enroll(cart, people[3], State.SUPPRESSED, "no consent")
    enroll(cart, people[4], State.SUPPRESSED, "no consent")
    enroll(cart, people[5], State.SUPPRESSED, "capped: this campaign's limit per person")
    enroll(cart, people[6], State.FAILED, "SMTPException: refused")
    enroll(cart, people[7], State.PENDING)
    enroll(cart, people[7], State.CONTROL, "control group")

    response = signed_in.get(f"/campaigns/{cart.pk}/")

    stats = response.context["stats"]
    assert (stats.enrolled, stats.sent, stats.exited, stats.suppressed, stats.failed) == (
        9,
        2,
        1,
        3,
        1,
    )
    assert (stats.waiting, stats.control) == (1, 1)
    assert stats.suppressed_reasons == [
        ("no consent", 2),
        ("capped: this campaign's limit per person", 1),
    ]
    html = response.content.decode()
    assert "converted: order completed" in html
    # The recent enrollments link their people.
    assert f'href="/profiles/{people[6].pk}/"' in html
    assert "SMTPException: refused" in html


def test_the_statistics_period_can_be_chosen(signed_in, cart, clock):
    ann = Profile.objects.create(user_id="ann", email="ann@example.com")
    enroll(cart, ann, State.SENT, at=NOW - timedelta(days=20))
    assert signed_in.get(f"/campaigns/{cart.pk}/?days=7").context["stats"].enrolled == 0
    assert signed_in.get(f"/campaigns/{cart.pk}/?days=30").context["stats"].enrolled == 1
    assert signed_in.get(f"/campaigns/{cart.pk}/?days=nope").context["stats"].days == 30


# --- the editor --------------------------------------------------------------------------------


def test_the_editor_shows_every_setting(signed_in, cart):
    html = signed_in.get(f"/campaigns/{cart.pk}/edit/").content.decode()
    for name in (
        "name",
        "wait_value",
        "wait_unit",
        "audience",
        "channel",
        "webhook_url",
        "sender_name",
        "sender_email",
        "subject_template",
        "html_template",
        "text_template",
        "cap_count",
        "cap_hours",
        "reentry",
        "quiet_start",
        "quiet_end",
        "quiet_in_profile_zone",
        "control_percent",
        "conversion_days",
    ):
        assert f'name="{name}"' in html, name
    assert "Exits on:</strong> Order completed" in html
    assert 'value="1"' in html and '<option value="hours" selected>' in html  # 1 hour
    assert 'form="campaign-form" name="then" value="active"' in html
    assert ">Save and activate</button>" in html


def test_saving_the_editor_changes_the_campaign(signed_in, cart):
    from segments.models import Segment

    vip = Segment.objects.create(name="VIP", definition={}, sentence="VIPs")
    response = signed_in.post(
        f"/campaigns/{cart.pk}/edit/",
        form_data(
            cart,
            wait_value=20,
            wait_unit="minutes",
            audience=vip.pk,
            sender_name="Shop",
            sender_email="hello@shop.example",
            subject_template="Your cart, {{ profile.first_name }}",
            quiet_start="21:00",
            quiet_end="08:00",
            control_percent=10,
            conversion_days=5,
            cap_count=2,
            cap_hours=48,
            reentry="once",
        ),
    )

    assert response.status_code == 302
    assert response["Location"] == f"/campaigns/{cart.pk}/"
    cart.refresh_from_db()
    assert cart.wait_seconds == 1200
    assert cart.audience == vip
    assert (cart.sender_name, cart.sender_email) == ("Shop", "hello@shop.example")
    assert cart.subject_template == "Your cart, {{ profile.first_name }}"
    assert (cart.quiet_start.hour, cart.quiet_end.hour) == (21, 8)
    assert (cart.control_percent, cart.conversion_days) == (10, 5)
    assert (cart.cap_count, cart.cap_hours, cart.reentry) == (2, 48, "once")
    assert cart.status == Campaign.Status.DRAFT  # saving does not activate


@pytest.mark.parametrize(
    ("changes", "field", "error"),
    [
        ({"wait_value": -1}, "wait_value", "The wait cannot be negative."),
        ({"wait_value": 31, "wait_unit": "days"}, "wait_value", "The wait is at most 30 days."),
        ({"channel": "webhook", "webhook_url": ""}, "webhook_url", "needs the address"),
        ({"quiet_start": "21:00"}, "quiet_end", "Give both ends of the quiet hours"),
        ({"quiet_start": "21:00", "quiet_end": "21:00"}, "quiet_end", "must end at another"),
        ({"control_percent": 80}, "control_percent", "At most 50%"),
        ({"conversion_days": 0}, "conversion_days", "Between 1 and 90 days."),
        ({"sender_email": "not-an-address"}, "sender_email", "valid email"),
        ({"name": "  "}, "name", "required"),
    ],
)
def test_invalid_settings_are_refused_with_the_reason(signed_in, cart, changes, field, error):
    response = signed_in.post(f"/campaigns/{cart.pk}/edit/", form_data(cart, **changes))

    assert response.status_code == 400
    assert error in " ".join(response.context["form"].errors[field])
    assert "Nothing was saved" in response.content.decode()
    refreshed = Campaign.objects.get(pk=cart.pk)
    assert (refreshed.wait_seconds, refreshed.channel, refreshed.control_percent) == (
        3600,
        "email",
        0,
    )


@pytest.mark.parametrize(
    ("field", "template", "error"),
    [
        ("html_template", "{% for item in items %}<p>{{ item.name }}</p>", "line 1"),
        ("subject_template", "Hi {{ profile.name", "line 1"),
        ("text_template", "{{ profile.__class__.__mro__ }}", "not allowed"),
        ("html_template", "{{ ''.__class__.__subclasses__() }}", "not allowed"),
        ("text_template", "{% include 'base.html' %}", "include, import and extends"),
        ("html_template", "{% extends 'base.html' %}", "include, import and extends"),
    ],
)
def test_a_template_the_sandbox_refuses_is_not_saved(signed_in, cart, field, template, error):
    response = signed_in.post(f"/campaigns/{cart.pk}/edit/", form_data(cart, **{field: template}))

    assert response.status_code == 400
    message = " ".join(response.context["form"].errors[field])
    assert message.startswith("This template cannot be used:")
    assert error in message
    assert error in response.content.decode()
    assert getattr(Campaign.objects.get(pk=cart.pk), field) != template


def test_a_template_depending_on_the_persons_data_is_accepted(signed_in, cart):
    template = "{{ event.properties.coupon.upper() }} {{ cart.total * 2 }}"
    response = signed_in.post(
        f"/campaigns/{cart.pk}/edit/", form_data(cart, text_template=template)
    )
    assert response.status_code == 302
    assert Campaign.objects.get(pk=cart.pk).text_template == template


# --- activation ----------------------------------------------------------------------------------


def test_activate_then_pause(signed_in, cart):
    response = signed_in.post(f"/campaigns/{cart.pk}/status/", {"status": "active"}, follow=True)
    assert Campaign.objects.get(pk=cart.pk).status == Campaign.Status.ACTIVE
    html = response.content.decode()
    assert "is active" in html and ">Pause</button>" in html

    signed_in.post(f"/campaigns/{cart.pk}/status/", {"status": "paused"})
    assert Campaign.objects.get(pk=cart.pk).status == Campaign.Status.PAUSED


def test_a_campaign_without_a_subject_cannot_be_activated(signed_in, cart):
    Campaign.objects.filter(pk=cart.pk).update(subject_template="")
    response = signed_in.post(f"/campaigns/{cart.pk}/status/", {"status": "active"}, follow=True)
    assert Campaign.objects.get(pk=cart.pk).status == Campaign.Status.DRAFT
    assert "It cannot be activated yet: The email needs a subject." in response.content.decode()


def test_an_unknown_status_changes_nothing(signed_in, cart):
    signed_in.post(f"/campaigns/{cart.pk}/status/", {"status": "deleted"})
    assert Campaign.objects.get(pk=cart.pk).status == Campaign.Status.DRAFT


def test_save_and_activate_keeps_the_edits(signed_in, cart):
    values = form_data(cart, wait_value="1", wait_unit="minutes")
    response = signed_in.post(f"/campaigns/{cart.pk}/edit/", {**values, "then": "active"})
    assert response["Location"] == f"/campaigns/{cart.pk}/"
    cart.refresh_from_db()
    assert (cart.wait_seconds, cart.status) == (60, Campaign.Status.ACTIVE)
    page = signed_in.get(response["Location"]).content.decode()
    assert "is saved and active" in page


def test_save_and_activate_saves_even_when_it_cannot_activate(signed_in, cart):
    values = form_data(cart, wait_value="2", wait_unit="minutes", subject_template="")
    response = signed_in.post(f"/campaigns/{cart.pk}/edit/", {**values, "then": "active"})
    assert response["Location"] == f"/campaigns/{cart.pk}/edit/"
    cart.refresh_from_db()
    assert (cart.wait_seconds, cart.status) == (120, Campaign.Status.DRAFT)
    assert "cannot be activated yet" in signed_in.get(response["Location"]).content.decode()


# --- preview and test send -----------------------------------------------------------------------


@pytest.fixture
def ann_with_a_cart(ingest, clock, cart) -> Profile:
    send(
        ingest,
        identify("ann", name="Ann Smith"),
        added("ann", "A", name="Alpine boot", price=120),
        added("ann", "B", name="<b>Bold</b> hat", price=20),
    )
    return Profile.objects.get(user_id="ann")


def test_preview_for_a_real_person_shows_subject_html_and_text(signed_in, ann_with_a_cart):
    cart = Campaign.objects.get(kind=Campaign.Kind.ABANDONED_CART)
    response = signed_in.get(f"/campaigns/{cart.pk}/", {"profile": "ann@example.com"})

    html = response.content.decode()
    assert response.context["profile"] == ann_with_a_cart
    assert "You left 2 items in your cart" in html
    # The HTML is shown in a sandboxed frame with no scripts, escaped into srcdoc.
    assert '<iframe class="message-html" title="The message\'s HTML" sandbox srcdoc="' in html
    assert "allow-scripts" not in html
    assert "&lt;p&gt;Hi Ann,&lt;/p&gt;" in html
    assert "&amp;lt;b&amp;gt;Bold&amp;lt;/b&amp;gt; hat" in html  # escaped twice: data in HTML
    assert "Alpine boot x 1" in html  # the text body
    assert Message.objects.count() == 0  # a preview records nothing


@pytest.mark.parametrize("search", ["ann", "#{pk}", "{pk}", "Ann Smith"])
def test_preview_finds_the_person_by_user_id_number_or_name(signed_in, ann_with_a_cart, search):
    cart = Campaign.objects.get(kind=Campaign.Kind.ABANDONED_CART)
    response = signed_in.get(
        f"/campaigns/{cart.pk}/", {"profile": search.format(pk=ann_with_a_cart.pk)}
    )
    assert response.context["profile"] == ann_with_a_cart


def test_preview_as_an_htmx_fragment(signed_in, ann_with_a_cart):
    cart = Campaign.objects.get(kind=Campaign.Kind.ABANDONED_CART)
    response = signed_in.get(f"/campaigns/{cart.pk}/", {"profile": "ann"}, headers=HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="preview"')
    assert "<html" not in html and "You left 2 items" in html


def test_preview_says_when_the_person_would_not_get_it_now(signed_in, ingest, ann_with_a_cart):
    cart = Campaign.objects.get(kind=Campaign.Kind.ABANDONED_CART)
    page = signed_in.get(f"/campaigns/{cart.pk}/", {"profile": "ann"}).content.decode()
    assert 'id="preview-blockers"' not in page
    send(ingest, removed("ann", "A"), removed("ann", "B"))
    send(ingest, identify("ann", consent=False))
    page = signed_in.get(f"/campaigns/{cart.pk}/", {"profile": "ann"}).content.decode()
    assert (
        "Not sent to this person now: the cart is empty: everything added was removed; "
        "no consent." in page
    )


def test_preview_says_a_person_who_ordered_converted(signed_in, ingest, ann_with_a_cart):
    cart = Campaign.objects.get(kind=Campaign.Kind.ABANDONED_CART)
    send(ingest, ordered("ann", "O-1", {"sku": "A", "name": "Alpine boot", "price": 120}))
    page = signed_in.get(f"/campaigns/{cart.pk}/", {"profile": "ann"}).content.decode()
    assert "Not sent to this person now: converted: order completed." in page


def test_preview_says_when_the_cap_would_hold_it_back(signed_in, ingest, clock, cart):
    Campaign.objects.filter(pk=cart.pk).update(status=Campaign.Status.ACTIVE)
    send(ingest, identify("ann"), added("ann", "A", name="Alpine boot", price=120))
    later(clock, hours=2)
    assert run().sent == 1  # the reminder goes out
    page = signed_in.get(f"/campaigns/{cart.pk}/", {"profile": "ann"}).content.decode()
    assert "capped: this campaign&#x27;s limit per person" in page


def test_an_order_confirmation_page_leaves_out_conversions_and_lift(signed_in, cart):
    confirmation = Campaign.objects.get(kind=Campaign.Kind.ORDER_CONFIRMATION)
    page = signed_in.get(f"/campaigns/{confirmation.pk}/").content.decode()
    assert 'id="stat-conversions"' not in page
    assert "measured for the marketing campaigns only" in page
    assert 'id="stat-conversions"' in signed_in.get(f"/campaigns/{cart.pk}/").content.decode()


def test_preview_for_nobody_says_so(signed_in, cart):
    response = signed_in.get(f"/campaigns/{cart.pk}/", {"profile": "nobody@example.com"})
    assert "No profile matches “nobody@example.com”." in response.content.decode()


def test_preview_picks_the_person_through_the_profile_picker(signed_in, ann_with_a_cart):
    cart = Campaign.objects.get(kind=Campaign.Kind.ABANDONED_CART)
    # A NUL is dropped, as in every form; a text longer than an email names nobody.
    response = signed_in.get(f"/campaigns/{cart.pk}/", {"profile": " ann@exam\x00ple.com "})
    assert response.context["profile"] == ann_with_a_cart
    assert 'value="ann@example.com"' in response.content.decode()
    response = signed_in.get(f"/campaigns/{cart.pk}/", {"profile": "a" * 321})
    assert "That is too long to be an email or an id." in response.content.decode()
    assert "profile" not in response.context


def test_preview_of_a_template_that_fails_for_this_person_shows_the_error(
    signed_in, ann_with_a_cart
):
    cart = Campaign.objects.get(kind=Campaign.Kind.ABANDONED_CART)
    Campaign.objects.filter(pk=cart.pk).update(text_template="{{ 1 / 0 }}")
    response = signed_in.get(f"/campaigns/{cart.pk}/", {"profile": "ann"})
    assert "This message cannot be sent: template error:" in response.content.decode()


def test_a_test_send_goes_out_and_is_kept_in_the_outbox_as_a_test(signed_in, ann_with_a_cart):
    cart = Campaign.objects.get(kind=Campaign.Kind.ABANDONED_CART)
    response = signed_in.post(
        f"/campaigns/{cart.pk}/test-send/", {"profile": "ann", "address": "me@shop.example"}
    )

    assert response.status_code == 302
    assert response["Location"] == f"/campaigns/{cart.pk}/?profile=ann#preview"
    [email] = mail.outbox
    assert email.to == ["me@shop.example"]
    assert email.subject == "You left 2 items in your cart"
    assert email.extra_headers[TEST_HEADER] == "true"
    message = Message.objects.get()
    assert (message.status, message.recipient, message.attempts) == ("sent", "me@shop.example", 1)
    assert message.profile is None and message.enrollment is None  # counts towards no cap
    # But it holds Ann's data: exported and deleted with her.
    assert message.rendered_for.user_id == "ann"
    # Its unsubscribe link unsubscribes nobody: not Ann's signed token.
    assert "/campaigns/unsubscribe/test-send/" in email.body
    assert email.extra_headers["List-Unsubscribe"].endswith("/campaigns/unsubscribe/test-send/>")
    assert signed_in.get("/campaigns/unsubscribe/test-send/").status_code == 404

    outbox = signed_in.get("/campaigns/outbox/").content.decode()
    assert "me@shop.example" in outbox and '<span class="badge test">Test</span>' in outbox
    assert f'href="/campaigns/outbox/{message.pk}/"' in outbox


def test_a_test_send_needs_an_address_and_a_person(signed_in, ann_with_a_cart):
    cart = Campaign.objects.get(kind=Campaign.Kind.ABANDONED_CART)
    response = signed_in.post(
        f"/campaigns/{cart.pk}/test-send/", {"profile": "ann", "address": "nope"}, follow=True
    )
    assert "That is not an email address." in response.content.decode()
    response = signed_in.post(
        f"/campaigns/{cart.pk}/test-send/", {"profile": "", "address": "me@x.example"}, follow=True
    )
    assert "Choose the person" in response.content.decode()
    assert mail.outbox == [] and not Message.objects.exists()


def test_a_test_send_the_backend_refuses_is_kept_as_failed(signed_in, ann_with_a_cart, settings):
    settings.EMAIL_BACKEND = "tests.campaigns.test_views.RefusingBackend"
    cart = Campaign.objects.get(kind=Campaign.Kind.ABANDONED_CART)
    response = signed_in.post(
        f"/campaigns/{cart.pk}/test-send/",
        {"profile": "ann", "address": "me@shop.example"},
        follow=True,
    )
    message = Message.objects.get()
    assert message.status == Message.Status.FAILED
    assert "relay denied" in message.error
    assert "The test was not sent" in response.content.decode()


class RefusingBackend:
    def __init__(self, *args, **kwargs) -> None:
        pass

    def send_messages(self, messages) -> int:
        raise OSError("relay denied")


# --- the Outbox ----------------------------------------------------------------------------------


def _message(campaign: Campaign | None, **fields) -> Message:
    key = f"k{next(_keys)}"
    return Message.objects.create(
        campaign=campaign,
        channel="email",
        recipient=fields.pop("recipient", "a@example.com"),
        idempotency_key=key,
        **fields,
    )


def test_the_outbox_filters_by_campaign_and_status_and_pages(signed_in, cart, settings):
    browse = Campaign.objects.get(kind=Campaign.Kind.ABANDONED_BROWSE)
    start = NOW - timedelta(days=1)
    for n in range(5):
        _message(cart, subject=f"Cart {n}", status="sent", created_at=start + timedelta(minutes=n))
    _message(browse, subject="Browse 0", status="failed", error="boom", created_at=start)

    html = signed_in.get("/campaigns/outbox/").content.decode()
    assert html.index("Cart 4") < html.index("Cart 0")  # newest first
    only_failed = signed_in.get("/campaigns/outbox/", {"status": "failed"}).content.decode()
    assert "Browse 0" in only_failed and "Cart" not in only_failed
    only_cart = signed_in.get("/campaigns/outbox/", {"campaign": cart.pk}).content.decode()
    assert "Browse 0" not in only_cart and "Cart 3" in only_cart

    from campaigns import selectors

    first = selectors.outbox_page(campaign_id=cart.pk, limit=2)
    assert [row.message.subject for row in first.messages] == ["Cart 4", "Cart 3"]
    second_page = signed_in.get(
        "/campaigns/outbox/", {"campaign": cart.pk, "before": first.next_cursor.token()}
    )
    subjects = [row.message.subject for row in second_page.context["messages_page"]]
    assert subjects == ["Cart 2", "Cart 1", "Cart 0"]
    # Junk in the query string is ignored, not an error.
    response = signed_in.get("/campaigns/outbox/", {"campaign": "x", "before": "bad"})
    assert response.status_code == 200


def test_the_outbox_finds_messages_by_recipient(signed_in, cart):
    _message(cart, subject="To Ann", recipient="ann@example.com")
    _message(cart, subject="To Annabel", recipient="annabel@example.com")
    _message(cart, subject="To Bob", recipient="bob@example.com")

    def subjects(to: str) -> list[str]:
        response = signed_in.get("/campaigns/outbox/", {"to": to})
        return sorted(row.message.subject for row in response.context["messages_page"])

    assert subjects("ann") == ["To Ann", "To Annabel"]
    assert subjects("Ann@Example.com") == ["To Ann"]  # addresses are kept in lower case
    assert subjects("carl@") == []
    page = signed_in.get("/campaigns/outbox/", {"to": "bob"}).content.decode()
    assert 'value="bob"' in page  # the search stays in its box


def test_a_sent_message_reads_in_the_outbox_with_headers_and_reason(signed_in, ingest, clock, cart):
    Campaign.objects.filter(pk=cart.pk).update(status=Campaign.Status.ACTIVE)
    send(ingest, identify("ann"), added("ann", "A", name="Alpine boot", price=120))
    later(clock, minutes=61)
    assert run().sent == 1
    message = Message.objects.get()

    response = signed_in.get(f"/campaigns/outbox/{message.pk}/")

    html = response.content.decode()
    assert "You left 1 item in your cart" in html
    assert "List-Unsubscribe-Post" in html and "List-Unsubscribe=One-Click" in html
    assert "ann@example.com" in html and f'href="/profiles/{message.profile_id}/"' in html
    assert 'sandbox srcdoc="' in html and "Alpine boot x 1" in html
    assert "Product Added at" in html  # the trigger that enrolled the person
    # The campaign's page links the enrollment to its message.
    page = signed_in.get(f"/campaigns/{cart.pk}/").content.decode()
    assert f'href="/campaigns/outbox/{message.pk}/"' in page


def test_an_unknown_message_is_not_found(signed_in):
    assert signed_in.get("/campaigns/outbox/999999/").status_code == 404


# --- the dry run and the outcomes ----------------------------------------------------------------


def test_the_dry_run_panel_replays_the_draft_and_sends_nothing(signed_in, ingest, clock, cart):
    send(ingest, identify("ann"), added("ann", "A", name="Alpine boot", price=120))
    later(clock, hours=3)

    page = signed_in.get(f"/campaigns/{cart.pk}/").content.decode()
    assert f'hx-post="/campaigns/{cart.pk}/dry-run/"' in page

    response = signed_in.post(
        f"/campaigns/{cart.pk}/dry-run/", {"days": "7"}, headers={"HX-Request": "true"}
    )

    assert response.status_code == 200
    assert response.templates[0].name == "campaigns/_dry_run.html"
    result = response.context["dry_run"]
    assert (result.entered, result.sent) == (1, 1)
    html = response.content.decode()
    assert "You left 1 item in your cart" in html and "Alpine boot" in html
    assert "<html" not in html
    assert mail.outbox == []
    assert Enrollment.objects.count() == 0 and Message.objects.count() == 0


def test_the_dry_run_without_htmx_shows_the_campaign_page(signed_in, cart):
    response = signed_in.post(f"/campaigns/{cart.pk}/dry-run/", {"days": "3"})
    assert response.status_code == 200
    assert response.context["dry_run"].days == 3
    assert "Nobody would have entered" in response.content.decode()


@pytest.mark.parametrize("days", ["0", "31", "week", ""])
def test_the_dry_run_refuses_days_out_of_range(signed_in, cart, days):
    response = signed_in.post(
        f"/campaigns/{cart.pk}/dry-run/", {"days": days}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 400
    assert "dry_run" not in response.context
    assert 'role="alert"' in response.content.decode()


def test_the_dry_run_needs_a_login_and_a_post(client, signed_in, cart):
    assert client.post(f"/campaigns/{cart.pk}/dry-run/", {"days": "7"}).status_code == 302
    assert signed_in.get(f"/campaigns/{cart.pk}/dry-run/").status_code == 405


def test_the_campaign_page_shows_conversions_revenue_and_lift(signed_in, cart, clock):
    from profiles.models import Order

    ann = Profile.objects.create(user_id="ann", email="ann@example.com")
    enrollment = enroll(cart, ann, State.SENT, at=NOW - timedelta(days=2))
    Message.objects.create(
        campaign=cart,
        enrollment=enrollment,
        profile=ann,
        channel="email",
        recipient=ann.email,
        status=Message.Status.SENT,
        idempotency_key="k-ann",
        sent_at=NOW - timedelta(days=2),
    )
    Order.objects.create(
        profile=ann, order_id="o-1", placed_at=NOW - timedelta(days=1), net_revenue=42
    )

    response = signed_in.get(f"/campaigns/{cart.pk}/")

    outcomes = response.context["outcomes"]
    assert (outcomes.converted_messages, outcomes.orders) == (1, 1)
    html = response.content.decode()
    assert "42.00 USD" in html
    assert "Not enough data" in html


@pytest.mark.parametrize(
    ("url", "warned"),
    [
        ("http://100.100.100.200/latest/meta-data/", True),
        ("https://[2002:a9fe:a9fe::1]/hook", True),
        ("http://localhost:8080/hook", True),
        ("https://8.8.8.8/hook", False),
    ],
)
def test_saving_a_webhook_address_that_sends_would_refuse_warns(
    signed_in, cart, settings, url, warned
):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    response = signed_in.post(
        f"/campaigns/{cart.pk}/edit/",
        form_data(cart, channel="webhook", webhook_url=url),
        follow=True,
    )
    assert response.status_code == 200
    assert Campaign.objects.get(pk=cart.pk).webhook_url == url  # saved all the same
    warnings = [str(m) for m in response.context["messages"] if m.level_tag == "warning"]
    if warned:
        [warning] = warnings
        assert f"Webhooks to {url} would be refused when sent" in warning
        assert "not a public internet address" in warning
        assert 'class="message warning"' in response.content.decode()
    else:
        assert warnings == []
