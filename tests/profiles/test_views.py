"""The profile pages, as full pages and as htmx fragments: the list and its search, one
profile's unified view, its timeline (filters, load more), notes."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils import timezone

from ingestion import services
from ingestion.models import Activity, Event, Product
from profiles.models import ConsentChange, Identity, Order, Profile, ProfileNote

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

ORDER = {
    "order_id": "O-1",
    "total": 139.8,
    "currency": "USD",
    "products": [
        {"sku": "SHOE-1", "name": "Trail shoe", "price": 89.9, "quantity": 1},
        {"sku": "SOCK-2", "name": "Sock", "price": 49.9, "quantity": 1},
    ],
}


def at(minutes: int) -> str:
    return (START + timedelta(minutes=minutes)).isoformat()


@pytest.fixture
def signed_in(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("marketer", "m@example.com", "pw"))
    return client


@pytest.fixture
def ada(ingest) -> Profile:
    """A visitor who browsed anonymously, identified, and ordered."""
    response = ingest(
        "batch",
        {
            "batch": [
                {
                    "type": "page",
                    "anonymousId": "anon-ada-1",
                    "name": "Home",
                    "properties": {"path": "/"},
                    "timestamp": at(0),
                },
                {
                    "type": "track",
                    "event": "Product Viewed",
                    "anonymousId": "anon-ada-1",
                    "properties": {"sku": "SHOE-1", "name": "Trail shoe", "price": 89.9},
                    "timestamp": at(1),
                },
                {
                    "type": "identify",
                    "anonymousId": "anon-ada-1",
                    "userId": "user-ada",
                    "traits": {"email": "Ada@Example.com", "name": "Ada Lovelace"},
                    "timestamp": at(2),
                },
                {
                    "type": "track",
                    "event": "Order Completed",
                    "userId": "user-ada",
                    "properties": ORDER,
                    "timestamp": at(3),
                },
            ]
        },
    )
    assert response.status_code == 200, response.content
    profile = Profile.objects.get(user_id="user-ada")
    Profile.objects.filter(pk=profile.pk).update(name="Ada Lovelace")
    profile.refresh_from_db()
    return profile


def test_list_shows_each_profile_with_its_computed_columns(signed_in, ada, ingest):
    ingest("track", {"event": "Product Viewed", "anonymousId": "anon-only", "timestamp": at(9)})
    Profile.objects.filter(pk=ada.pk).update(
        last_seen=START, event_count=4, orders_count=1, revenue=Decimal("139.80"), rfm_score="545"
    )
    html = signed_in.get("/profiles/").content.decode()
    anonymous = Profile.objects.get(user_id="")
    assert "Ada Lovelace" in html and "ada@example.com" in html
    assert f"Anonymous #{anonymous.pk}" in html
    assert "Known" in html and "Anonymous</span>" in html
    assert "139.80 USD" in html and "545" in html
    assert 'href="/profiles/import/"' in html
    assert f'href="/profiles/{ada.pk}/"' in html


@pytest.mark.parametrize(
    "search",
    [
        "ada@exa",
        "ADA@example.com",
        "user-ada",
        "user-a",
        "anon-ada-1",
        "anon-ada",
        "ada lov",
        "Ada",
    ],
)
def test_list_search_finds_a_profile_by_email_id_or_name(signed_in, ada, ingest, search):
    ingest("track", {"event": "Product Viewed", "userId": "someone-else"})
    html = signed_in.get("/profiles/", {"q": search}).content.decode()
    assert "Ada Lovelace" in html
    assert "someone-else" not in html


def test_list_search_answers_htmx_with_its_rows_only(signed_in, ada, ingest):
    ingest("track", {"event": "Product Viewed", "userId": "bob-1"})
    response = signed_in.get("/profiles/?q=user-ada", headers={**HTMX, "HX-Target": "profile-rows"})
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="profile-rows"')
    assert "<html" not in html and "Ada Lovelace" in html and "bob-1" not in html


def test_list_search_says_when_nothing_matches(signed_in, ada):
    html = signed_in.get("/profiles/", {"q": "nobody@nowhere"}).content.decode()
    assert "No profile matches" in html and "Ada Lovelace" not in html


def test_list_pages_with_a_keyset_link_and_shows_every_profile_once(signed_in, ingest):
    ingest("batch", {"batch": [{"type": "page", "anonymousId": f"v{n}"} for n in range(60)]})
    now = timezone.now()
    for n, profile in enumerate(Profile.objects.order_by("pk")):
        # Half seen (at times that tie in pairs), half never: both kinds page in order.
        seen = now - timedelta(minutes=n // 2) if n % 2 == 0 or n < 30 else None
        Profile.objects.filter(pk=profile.pk).update(last_seen=seen)
    shown: list[str] = []
    url = "/profiles/"
    while url:
        html = signed_in.get(url).content.decode()
        shown += re.findall(r'<tr id="profile-(\d+)"', html)
        link = re.search(r'href="(\?after=[^"]+)"[^>]*>Next', html)
        url = "/profiles/" + link.group(1).replace("&amp;", "&") if link else ""
    expected = [
        str(p.pk)
        for p in sorted(
            Profile.objects.all(),
            key=lambda p: (p.last_seen is not None, p.last_seen or now, p.pk),
            reverse=True,
        )
    ]
    assert shown == expected


def test_profile_page_shows_header_identities_and_computed_attributes(signed_in, ada):
    product = Product.objects.create(
        key="SHOE-1", sku="SHOE-1", name="Trail shoe", price=Decimal("89.90"), currency="USD",
        image_url="https://cdn.example/shoe.jpg",
    )  # fmt: skip
    now = timezone.now()
    Profile.objects.filter(pk=ada.pk).update(
        first_seen=START,
        last_seen=START + timedelta(minutes=3),
        event_count=4,
        orders_count=1,
        revenue=Decimal("139.80"),
        average_order_value=Decimal("139.80"),
        last_order_at=START + timedelta(minutes=3),
        rfm_recency=5,
        rfm_frequency=4,
        rfm_monetary=5,
        rfm_score="545",
        rfm_at=now,
        preferences={"categories": {"Shoes": 4.0, "Socks": 1.0}, "brands": {"Trailco": 2.0}},
        last_viewed=[{"key": "SHOE-1", "at": now.isoformat()}, {"key": "GONE-9", "at": None}],
        engagement_score=12.5,
        engagement_weeks={str(timezone.localdate() - timedelta(days=7)): 9.0},
        engagement_at=now,
        computed_at=now - timedelta(minutes=3),
        email_consent="granted",
        email_consent_at=START,
    )
    ConsentChange.objects.create(
        profile=ada, channel="email", state="granted", at=START, how="identify trait email_opt_in"
    )
    Order.objects.create(
        profile=ada, order_id="O-1", placed_at=START, total=Decimal("139.80"), currency="USD",
        net_revenue=Decimal("139.80"), products=ORDER["products"],
    )  # fmt: skip
    html = signed_in.get(f"/profiles/{ada.pk}/").content.decode()
    assert "<h1>Ada Lovelace" in html
    assert "ada@example.com" in html and "<code>user-ada</code>" in html
    for value in ("anon-ada-1", "user-ada", "ada@example.com"):
        assert f"<code>{value}</code>" in html  # the identities table
    assert "updated <time" in html and "3\xa0minutes ago" in html
    assert '139.80 <span class="muted">USD</span>' in html
    assert '<span class="rfm-score">545</span>' in html
    assert "Recency 5 · frequency 4 · monetary 5" in html
    assert "Shoes" in html and "Trailco" in html
    assert product.image_url in html and "Trail shoe" in html
    assert "GONE-9" in html and "not in the catalog" in html
    assert 'class="trend"' in html and "9 points" in html
    assert "Opted in" in html and "identify trait email_opt_in" in html
    assert "<code>O-1</code>" in html and "Trail shoe, Sock" in html
    assert f'href="/profiles/{ada.pk}/export/"' in html
    assert f'href="/profiles/{ada.pk}/delete/"' in html


def test_profile_page_renders_sensibly_before_anything_is_computed(signed_in, ingest):
    ingest("page", {"anonymousId": "fresh-visitor", "name": "Home"})
    profile = Profile.objects.get()
    html = signed_in.get(f"/profiles/{profile.pk}/").content.decode()
    assert f"Anonymous #{profile.pk}" in html
    assert "not computed yet" in html and "No order yet" in html
    assert "Scored once the person has orders" in html
    assert "No product viewed yet" in html and "No orders yet" in html
    assert "Home" in html  # the timeline
    assert "identity-graph" not in html  # one id: nothing to draw


def test_unknown_profile_is_404(signed_in):
    assert signed_in.get("/profiles/999999/").status_code == 404


def test_identity_graph_draws_the_ids_and_what_linked_them(signed_in, ada):
    html = signed_in.get(f"/profiles/{ada.pk}/").content.decode()
    svg = html[
        html.index('<svg class="identity-graph"') : html.index(
            "</svg>", html.index("identity-graph")
        )
    ]
    assert svg.count('<g class="node ') == 3
    for label in ("user id", "email", "anonymous id"):
        assert f'class="ns" text-anchor="middle">{label}</text>' in svg
    # The identify call carried all three ids: it links each pair, and says so.
    assert svg.count('<g class="edge event">') == 3
    assert "identify call on 2026-03-02" in svg and "from Shop" in svg


def test_identity_graph_folds_many_anonymous_ids_into_more(signed_in, ingest):
    ingest(
        "batch",
        {
            "batch": [
                {"type": "identify", "userId": "u-many", "anonymousId": f"device-{n:03d}"}
                for n in range(40)
            ]
        },
    )
    profile = Profile.objects.get(user_id="u-many")
    html = signed_in.get(f"/profiles/{profile.pk}/").content.decode()
    start = html.index('<svg class="identity-graph"')
    svg = html[start : html.index("</svg>", start)]
    assert "+25 more" in svg
    assert svg.count('<g class="node ') == 17  # the user id, 15 devices, "+25 more"
    listed = html[html.index('<table class="table identities">') :]
    listed = listed[: listed.index("</table>")]
    assert listed.count("<code>device-") == 40  # every id is still listed


def test_merges_are_listed_and_drawn(signed_in, ingest):
    ingest("track", {"event": "Product Viewed", "anonymousId": "phone"})
    ingest("track", {"event": "Product Viewed", "anonymousId": "laptop"})
    ingest("identify", {"userId": "u-merge", "anonymousId": "phone"})
    ingest("identify", {"userId": "u-merge", "anonymousId": "laptop", "messageId": "merge-msg"})
    profile = Profile.objects.get(user_id="u-merge")
    merge = profile.merges.get()
    html = signed_in.get(f"/profiles/{profile.pk}/").content.decode()
    assert f"#{merge.merged_profile_id}" in html and "merge-msg" in html
    assert "<code>anonymous_id:laptop</code>" in html
    assert '<g class="edge merge">' in html
    assert f"merged profile #{merge.merged_profile_id}" in html


def test_profile_page_query_count_stays_flat(signed_in, ada, ingest, django_assert_max_num_queries):
    ingest(
        "batch",
        {
            "batch": [
                {
                    "type": "track",
                    "event": "Product Viewed",
                    "userId": "user-ada",
                    "timestamp": at(10 + n),
                }
                for n in range(80)
            ]
        },
    )
    ProfileNote.objects.create(profile=ada, body="Called about sizes", created_at=START)
    # 18: one of them asks whether the user is read-only (access/roles.py), one reads the
    # person's journeys (a section campaigns adds, profiles/sections.py).
    with django_assert_max_num_queries(18):
        response = signed_in.get(f"/profiles/{ada.pk}/")
    assert response.status_code == 200
    assert response.content.decode().count('<details class="row event"') == 50


# --- the timeline ---------------------------------------------------------------------------


def test_timeline_shows_events_newest_first_with_their_payload(signed_in, ada):
    html = signed_in.get(f"/profiles/{ada.pk}/").content.decode()
    html = html[html.index('<div id="timeline-entries"') :]
    order = html.index("Order Completed")
    assert (
        order < html.index("Identified") < html.index("Product Viewed") < html.index("Page viewed")
    )
    # The products array is a table with its item fields as columns.
    table = re.search(r'<table class="items"><thead><tr>(.*?)</tr>', html[order:]).group(1)
    assert re.findall(r"<th scope=\"col\">(\w+)</th>", table) == [
        "sku",
        "name",
        "price",
        "quantity",
    ]
    assert "<td>Trail shoe</td>" in html
    assert "<dt>Message id</dt>" in html and "<dt>Source</dt><dd>Shop</dd>" in html


@override_settings(TIME_ZONE="America/New_York")
def test_timeline_groups_by_day_in_the_site_time_zone(signed_in, ingest):
    # 02:30 UTC on 3 March is still 2 March in New York.
    ingest("track", {"event": "Late", "userId": "u-tz", "timestamp": "2026-03-03T02:30:00Z"})
    ingest("track", {"event": "Early", "userId": "u-tz", "timestamp": "2026-03-02T15:00:00Z"})
    ingest("track", {"event": "Next", "userId": "u-tz", "timestamp": "2026-03-03T15:00:00Z"})
    profile = Profile.objects.get()
    html = signed_in.get(f"/profiles/{profile.pk}/").content.decode()
    days = re.findall(r'<h3 class="day-title"><time datetime="([\d-]+)">', html)
    assert days == ["2026-03-03", "2026-03-02"]
    march_2 = html[html.index('datetime="2026-03-02"') :]
    assert "Late" in march_2 and "Early" in march_2 and "Next" not in march_2
    assert ">21:30</time>" in html  # the local time of "Late"


def test_timeline_filters_by_activity_and_source(signed_in, ada, ingest):
    html = signed_in.get(
        f"/profiles/{ada.pk}/", {"activity": "track:Order Completed"}
    ).content.decode()
    assert "Order Completed" in html and '<span class="name">Product Viewed' not in html
    html = signed_in.get(f"/profiles/{ada.pk}/", {"activity": "identify"}).content.decode()
    assert (
        '<span class="name">Identified' in html and '<span class="name">Order Completed' not in html
    )
    other = ada.events.first().source
    html = signed_in.get(f"/profiles/{ada.pk}/", {"source": other.pk + 1000}).content.decode()
    assert "No events of this activity or source" in html
    html = signed_in.get(f"/profiles/{ada.pk}/", {"source": other.pk}).content.decode()
    assert html.count('<details class="row event"') == 4


def test_timeline_filter_answers_htmx_with_the_entries_only(signed_in, ada):
    response = signed_in.get(
        f"/profiles/{ada.pk}/?activity=page",
        headers={**HTMX, "HX-Target": "timeline-entries"},
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="timeline-entries"')
    assert "<html" not in html and "Identities" not in html
    assert html.count('<details class="row event"') == 1 and "Page viewed" in html


def test_timeline_activity_filter_lists_the_catalogs_activities(signed_in, ada):
    Activity.objects.create(kind="track", name="Order Completed")
    html = signed_in.get(f"/profiles/{ada.pk}/").content.decode()
    assert '<option value="track:Order Completed"' in html
    assert '<option value="identify"' in html


def _activity_options(html: str) -> list[str]:
    select = html[html.index('<select name="activity"') :]
    select = select[: select.index("</select>")]
    return re.findall(r'<option value="([^"]*)"', select)


def test_timeline_activity_filter_lists_only_this_persons_activities(signed_in, ada, ingest):
    # Another person's activity, in the catalog: not offered on Ada's page.
    ingest("track", {"userId": "u-bob", "event": "Wishlist Added"})
    Activity.objects.create(kind="track", name="Wishlist Added")
    Activity.objects.create(kind="track", name="Order Completed", display_name="Order placed")
    Activity.objects.create(kind="track", name="Product Viewed", status="hidden")
    html = signed_in.get(f"/profiles/{ada.pk}/").content.decode()
    # Ada's activities by their catalog name (the hidden one left out), then her calls.
    assert _activity_options(html) == ["", "track:Order Completed", "page", "identify"]
    assert ">Order placed</option>" in html
    bob = Profile.objects.get(user_id="u-bob")
    html = signed_in.get(f"/profiles/{bob.pk}/").content.decode()
    assert _activity_options(html) == ["", "track:Wishlist Added"]
    # An activity asked for in the address stays selected, even one the person never did.
    html = signed_in.get(f"/profiles/{bob.pk}/", {"activity": "track:Order Completed"}).content
    assert _activity_options(html.decode()) == ["", "track:Wishlist Added", "track:Order Completed"]


def test_timeline_activity_filter_reads_a_bounded_stretch_of_the_persons_events(
    signed_in, ingest, django_assert_max_num_queries
):
    from ingestion.selectors import profile_activity_kinds

    ingest("track", {"userId": "u-long", "event": "Old Habit", "timestamp": at(0)})
    ingest(
        "batch",
        {
            "batch": [
                {"type": "track", "userId": "u-long", "event": f"Step {n % 3}", "timestamp": at(n)}
                for n in range(1, 31)
            ]
        },
    )
    profile = Profile.objects.get(user_id="u-long")
    with django_assert_max_num_queries(1):
        kinds = profile_activity_kinds(profile_id=profile.pk, scan=20)
    # The newest 20 events only: "Old Habit" is further back; the latest activity first.
    assert [name for _, name, _, _ in kinds] == ["Step 0", "Step 2", "Step 1"]
    assert "Old Habit" in [name for _, name, _, _ in profile_activity_kinds(profile_id=profile.pk)]


def _paged_ids(signed_in, profile: Profile, query: str = "") -> list[int]:
    """Every event id the timeline shows, following "load more" as htmx does."""
    ids: list[int] = []
    url = f"/profiles/{profile.pk}/?{query}"
    headers = {**HTMX, "HX-Target": "timeline-entries"}
    while url:
        html = signed_in.get(url, headers=headers).content.decode()
        ids += [int(pk) for pk in re.findall(r'id="event-(\d+)"', html)]
        more = re.search(r'id="timeline-more"[^>]*hx-get="([^"]+)"', html)
        url = more.group(1).replace("&amp;", "&") if more else ""
        headers = {**HTMX, "HX-Target": "timeline-more"}
    return ids


def test_load_more_pages_through_every_event_once_in_order(signed_in, ingest):
    # Pairs of events share a timestamp, so the keyset must break ties by id.
    ingest(
        "batch",
        {
            "batch": [
                {"type": "track", "event": f"Step {n}", "userId": "u-long", "timestamp": at(n // 2)}
                for n in range(130)
            ]
        },
    )
    profile = Profile.objects.get()
    expected = list(profile.events.order_by("-timestamp", "-pk").values_list("pk", flat=True))
    assert _paged_ids(signed_in, profile) == expected


def test_load_more_fragment_is_the_next_page_only(signed_in, ingest, django_assert_max_num_queries):
    ingest(
        "batch",
        {"batch": [{"type": "page", "userId": "u-p", "timestamp": at(n)} for n in range(60)]},
    )
    profile = Profile.objects.get()
    first = signed_in.get(f"/profiles/{profile.pk}/").content.decode()
    more = (
        re.search(r'id="timeline-more"[^>]*hx-get="([^"]+)"', first).group(1).replace("&amp;", "&")
    )
    # session, user, profile, events, notes, recorded consent, campaign messages
    with django_assert_max_num_queries(7):
        response = signed_in.get(more, headers={**HTMX, "HX-Target": "timeline-more"})
    html = response.content.decode()
    assert "<html" not in html and 'id="timeline-body"' not in html
    assert html.count('<details class="row event"') == 10
    assert "The beginning of this timeline" in html
    # Without JavaScript the same link opens the full page at that point.
    full = signed_in.get(more).content.decode()
    assert "<html" in full and full.count('<details class="row event"') == 10
    assert "Back to the newest" in full


def test_a_day_split_across_pages_gets_one_heading(signed_in, ingest):
    ingest(
        "batch",
        {"batch": [{"type": "page", "userId": "u-d", "timestamp": at(n)} for n in range(70)]},
    )
    profile = Profile.objects.get()
    first = signed_in.get(f"/profiles/{profile.pk}/").content.decode()
    more = (
        re.search(r'id="timeline-more"[^>]*hx-get="([^"]+)"', first).group(1).replace("&amp;", "&")
    )
    html = signed_in.get(more, headers={**HTMX, "HX-Target": "timeline-more"}).content.decode()
    assert 'class="day-title"' not in html and html.count('<details class="row event"') == 20


# --- notes ----------------------------------------------------------------------------------


def test_a_note_is_added_and_shows_on_the_timeline(signed_in, ada):
    response = signed_in.post(f"/profiles/{ada.pk}/notes/", {"body": "  Prefers email.  "})
    assert response.status_code == 302
    assert response["Location"] == f"/profiles/{ada.pk}/#timeline"
    note = ProfileNote.objects.get()
    assert (note.body, note.author.username, note.profile_id) == (
        "Prefers email.",
        "marketer",
        ada.pk,
    )
    html = signed_in.get(response["Location"]).content.decode()
    assert "Note added." in html
    # Newest first: the note (now) is above the events (in March).
    assert html.index("Prefers email.") < html.index('<span class="name">Order Completed')
    assert "by marketer" in html


def test_a_note_added_with_htmx_returns_a_fresh_form_and_the_timeline(signed_in, ada):
    response = signed_in.post(f"/profiles/{ada.pk}/notes/", {"body": "VIP"}, headers=HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert html.lstrip().startswith('<form id="note-form"') and "Note added." in html
    assert '<div id="timeline-body" hx-swap-oob="true">' in html and "VIP" in html


@pytest.mark.parametrize(
    ("body", "error"),
    [("   ", "the note is empty"), ("x" * 5001, "at most 5000 characters")],
)
def test_an_empty_or_too_long_note_is_refused_with_a_clear_error(signed_in, ada, body, error):
    response = signed_in.post(f"/profiles/{ada.pk}/notes/", {"body": body}, headers=HTMX)
    assert response.status_code == 400
    html = response.content.decode()
    assert html.lstrip().startswith('<form id="note-form"') and error in html
    assert 'role="alert"' in html
    full = signed_in.post(f"/profiles/{ada.pk}/notes/", {"body": body})
    assert full.status_code == 400 and error in full.content.decode()
    assert "<html" in full.content.decode()
    assert not ProfileNote.objects.exists()


def test_notes_sit_among_the_events_at_their_time_on_every_page(
    signed_in, ingest, django_user_model
):
    ingest(
        "batch",
        {"batch": [{"type": "page", "userId": "u-n", "timestamp": at(n)} for n in range(120)]},
    )
    profile = Profile.objects.get()
    for minute in (5, 60, 119, 200):
        ProfileNote.objects.create(
            profile=profile, body=f"note at {minute}", created_at=START + timedelta(minutes=minute)
        )
    seen: list[str] = []
    url = f"/profiles/{profile.pk}/"
    headers = {**HTMX, "HX-Target": "timeline-entries"}
    while url:
        html = signed_in.get(url, headers=headers).content.decode()
        seen += re.findall(r'id="(note-\d+|event-\d+)"', html)
        more = re.search(r'id="timeline-more"[^>]*hx-get="([^"]+)"', html)
        url = more.group(1).replace("&amp;", "&") if more else ""
        headers = {**HTMX, "HX-Target": "timeline-more"}
    entries = [(e.timestamp, 0, f"event-{e.pk}") for e in profile.events.all()] + [
        (n.created_at, 1, f"note-{n.pk}") for n in profile.notes.all()
    ]
    expected = [key for _, _, key in sorted(entries, key=lambda e: (e[0], e[1]), reverse=True)]
    # The events' own ids break ties among events; notes sit above an event of their instant.
    assert [k for k in seen if k.startswith("note")] == [
        k for k in expected if k.startswith("note")
    ]
    assert len(seen) == len(set(seen)) == 124
    for note in profile.notes.all():
        position = seen.index(f"note-{note.pk}")
        older = [
            Event.objects.get(pk=int(k[6:])).timestamp
            for k in seen[position + 1 :]
            if k.startswith("event")
        ]
        assert all(t <= note.created_at for t in older)


def test_pages_need_a_login(client, ingest):
    ingest("page", {"anonymousId": "x"})
    profile = Profile.objects.get()
    for url in ("/profiles/", f"/profiles/{profile.pk}/"):
        assert client.get(url)["Location"].startswith("/accounts/login/")
    response = client.post(f"/profiles/{profile.pk}/notes/", {"body": "hi"})
    assert response["Location"].startswith("/accounts/login/")
    assert not ProfileNote.objects.exists()


def test_identities_without_a_stored_event_are_still_drawn(signed_in, ada):
    Identity.objects.create(profile=ada, namespace="crm_id", value="CRM-1")
    html = signed_in.get(f"/profiles/{ada.pk}/").content.decode()
    assert '<g class="node other">' in html and "CRM-1" in html
    assert '<g class="edge unknown">' in html


def test_a_marketer_records_consent_given_outside_the_site(client, django_user_model, ingest):
    ingest("identify", {"userId": "u-consent", "traits": {"email_opt_in": True}})
    services.events_process(event_ids=list(Event.objects.values_list("pk", flat=True)))
    profile = Profile.objects.get()
    client.force_login(django_user_model.objects.create_user("agent", password="x"))

    page = client.get(f"/profiles/{profile.pk}/").content.decode()
    assert "Record consent given outside the site" in page
    response = client.post(
        f"/profiles/{profile.pk}/consent/",
        {"channel": "email", "state": "withdrawn", "how": "Asked by phone"},
        follow=True,
    )
    assert "Email consent recorded: Opted out." in response.content.decode()
    profile.refresh_from_db()
    assert profile.email_consent == "withdrawn"
    latest = ConsentChange.objects.filter(profile=profile).first()
    assert latest.how == "Asked by phone (recorded by agent)"

    # A late identify with an older time does not undo what the agent recorded.
    ingest(
        "identify",
        {"userId": "u-consent", "traits": {"email_opt_in": True}, "timestamp": "2026-01-01"},
    )
    services.events_process(
        event_ids=list(Event.objects.filter(processed_at=None).values_list("pk", flat=True))
    )
    profile.refresh_from_db()
    assert profile.email_consent == "withdrawn"

    bad = client.post(f"/profiles/{profile.pk}/consent/", {"channel": "fax", "state": "x"})
    assert bad.status_code == 302
    profile.refresh_from_db()
    assert profile.email_consent == "withdrawn"


def _process() -> None:
    services.events_process(
        event_ids=list(Event.objects.filter(processed_at=None).values_list("pk", flat=True))
    )


def test_a_merged_profiles_link_leads_to_the_person_it_became(signed_in, ingest):
    ingest("page", {"anonymousId": "phone", "timestamp": at(0)})
    ingest("identify", {"userId": "u-merge", "traits": {}, "timestamp": at(1)})
    merged = Profile.objects.get(identities__value="phone").pk
    ingest("identify", {"userId": "u-merge", "anonymousId": "phone", "timestamp": at(2)})
    survivor = Profile.objects.get()
    assert survivor.pk != merged

    response = signed_in.get(f"/profiles/{merged}/", follow=True)
    assert response.redirect_chain == [(f"/profiles/{survivor.pk}/", 302)]
    assert f"Profile #{merged} was merged into this one." in response.content.decode()
    assert signed_in.get("/profiles/987654/").status_code == 404


def test_a_profile_known_by_email_only_is_known_and_named_by_it(signed_in, ingest):
    ingest("identify", {"anonymousId": "a-1", "traits": {"email": "kj@example.com"}})
    page = signed_in.get("/profiles/").content.decode()
    assert "kj@example.com" in page and "Known" in page and "Anonymous #" not in page


def test_the_page_says_when_this_persons_email_belongs_to_another_known_profile(signed_in, ingest):
    ingest("identify", {"userId": "first", "traits": {"email": "ada@example.com"}})
    ingest("identify", {"userId": "second", "traits": {"email": "ada@example.com"}})
    _process()
    first = Profile.objects.get(user_id="first")
    second = Profile.objects.get(user_id="second")
    page = signed_in.get(f"/profiles/{second.pk}/").content.decode()
    assert f'belongs to <a href="/profiles/{first.pk}/">profile #{first.pk}</a>' in page
    assert "belongs to" not in signed_in.get(f"/profiles/{first.pk}/").content.decode()


@override_settings(SITE_CURRENCY="USD", CURRENCY_RATES={})
def test_orders_in_a_currency_without_a_rate_are_flagged(signed_in, ingest):
    order = {**ORDER, "order_id": "EU-1", "currency": "EUR"}
    ingest("track", {"userId": "u-eur", "event": "Order Completed", "properties": order})
    _process()
    profile = Profile.objects.get(user_id="u-eur")
    page = signed_in.get(f"/profiles/{profile.pk}/").content.decode()
    assert "No exchange rate is set for EUR" in page


@override_settings(ENGAGEMENT_HALF_LIFE_DAYS=7)
def test_the_engagement_shown_is_decayed_to_now(signed_in, ingest):
    two_weeks_ago = (timezone.now() - timedelta(days=14)).isoformat()
    ingest(
        "track",
        {"userId": "u-eng", "event": "Checkout Started", "timestamp": two_weeks_ago},
    )
    _process()
    profile = Profile.objects.get(user_id="u-eng")
    assert profile.engagement_score == pytest.approx(5)
    page = signed_in.get(f"/profiles/{profile.pk}/").content.decode()
    assert re.search(r"<dt>Engagement</dt><dd class=\"figure\">1[.,][23]</dd>", page)


def test_an_expanded_event_names_a_device_clock_only_when_it_was_off(signed_in, ingest):
    sent = timezone.now().replace(microsecond=0)
    ingest(
        "batch",
        {
            "sentAt": (sent + timedelta(minutes=5)).isoformat(),
            "batch": [
                {
                    "type": "track",
                    "userId": "u-clock",
                    "event": "Skewed",
                    "timestamp": (sent + timedelta(minutes=4)).isoformat(),
                },
            ],
        },
    )
    ingest("track", {"userId": "u-clock", "event": "On time"})
    profile = Profile.objects.get(user_id="u-clock")
    page = signed_in.get(f"/profiles/{profile.pk}/").content.decode()
    assert page.count("Device said") == 1
    # 300 s, give or take the moment the server took to receive it
    assert re.search(r"its clock was (299|300|301) s off; corrected", page)


def test_the_graph_says_how_a_device_seen_first_on_its_own_joined(signed_in, ingest):
    ingest("identify", {"userId": "u-g", "anonymousId": "laptop", "traits": {}})
    ingest(
        "batch",
        {
            "batch": [
                {"type": "page", "anonymousId": "phone", "name": "Home"},
                {"type": "identify", "userId": "u-g", "anonymousId": "phone", "traits": {}},
            ]
        },
    )
    profile = Profile.objects.get()
    page = signed_in.get(f"/profiles/{profile.pk}/").content.decode()
    assert "first seen in" in page and "joined by a later event" in page
    assert "event not stored any more" not in page


def test_consent_recorded_on_the_page_shows_on_the_timeline(signed_in, ingest):
    ingest("identify", {"userId": "u-tl", "traits": {"email_opt_in": True}})
    profile = Profile.objects.get()
    signed_in.post(
        f"/profiles/{profile.pk}/consent/",
        {"channel": "sms", "state": "withdrawn", "how": "Asked in the shop"},
    )
    page = signed_in.get(f"/profiles/{profile.pk}/").content.decode()
    assert 'class="row note consent"' in page
    assert "SMS consent: Opted out" in page and "Asked in the shop" in page


def bounced_message(*, profile, since, until):
    """Another app's timeline entry (PROFILE_TIMELINE_EXTRAS), for the page's tests."""
    from profiles.selectors import TimelineExtra

    when = START + timedelta(minutes=2, seconds=30)
    if (since and when < since) or (until and when >= until):
        return []
    return [
        TimelineExtra(
            at=when,
            anchor="message-7",
            badge="Email failed",
            tone="off",
            title="Abandoned cart: <Your cart>",
            detail="550 mailbox unavailable",
            url="/campaigns/outbox/7/",
        )
    ]


@override_settings(PROFILE_TIMELINE_EXTRAS=["tests.profiles.test_views.bounced_message"])
def test_other_apps_entries_show_on_the_timeline_at_their_time(signed_in, ada):
    html = signed_in.get(f"/profiles/{ada.pk}/").content.decode()
    entry = re.search(r'<article class="row note extra" id="message-7">.*?</article>', html, re.S)
    assert entry, html
    entry = entry.group(0)
    assert '<span class="badge off">Email failed</span>' in entry
    assert '<a href="/campaigns/outbox/7/">Abandoned cart: &lt;Your cart&gt;</a>' in entry
    assert "550 mailbox unavailable" in entry
    # Between the identify (minute 2) and the order (minute 3), newest first.
    order = Event.objects.get(name="Order Completed").pk
    identify = Event.objects.get(type="identify").pk
    assert html.index(f'id="event-{order}"') < html.index('id="message-7"')
    assert html.index('id="message-7"') < html.index(f'id="event-{identify}"')
    filtered = signed_in.get(f"/profiles/{ada.pk}/?activity=identify").content.decode()
    assert 'id="message-7"' not in filtered


def test_order_items_missing_a_name_or_id_still_show(signed_in, ada):
    """Items are stored as sent: any of name, sku and product_id may be missing."""
    Order.objects.create(
        profile=ada, order_id="O-odd", placed_at=START, total=Decimal("10"), currency="USD",
        products=[
            {"sku": "SKU-9", "quantity": 2},
            {"product_id": "P-3"},
            {"price": 5},
            "a bare string",
        ],
    )  # fmt: skip
    response = signed_in.get(f"/profiles/{ada.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "SKU-9 \u00d7 2, P-3, item, item" in html
