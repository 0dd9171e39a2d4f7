"""The segment pages, as full pages and as htmx fragments: the list and its trend, a segment's
page (size, chart, entries and exits, members), "Refresh now", the CSV export, the "why"
page, and the segments section of a profile's page."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from cdp_project.celery import app as celery_app
from profiles.models import Profile, ProfileMerge
from segments.membership import segment_refresh
from segments.models import Membership, MembershipChange, Segment, SizeSnapshot

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
NOW = datetime.now(UTC).replace(microsecond=0)


def group(*conditions: dict, match: str = "all") -> dict:
    return {"kind": "group", "match": match, "negate": False, "conditions": list(conditions)}


def computed(path: str, operator: str, value) -> dict:
    return {
        "kind": "attribute",
        "negate": False,
        "scope": "computed",
        "path": path,
        "operator": operator,
        "value": value,
    }


REPEAT_BUYERS = group(computed("orders_count", "gte", 2))
SENTENCE = "People whose Orders is at least 2"


@pytest.fixture
def signed_in(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("marketer", "m@example.com", "pw"))
    return client


def person(name: str, **fields) -> Profile:
    fields.setdefault("email", f"{name.lower()}@example.com")
    return Profile.objects.create(user_id=f"user-{name.lower()}", name=name, **fields)


def segment_of(definition: dict = REPEAT_BUYERS, name: str = "Repeat buyers", **fields) -> Segment:
    fields.setdefault("sentence", SENTENCE)
    return Segment.objects.create(name=name, definition=definition, **fields)


@pytest.fixture
def buyers() -> Segment:
    """Ada and Bob are repeat buyers, refreshed an hour ago; Cyd was one and left."""
    ada = person("Ada", orders_count=3)
    person("Bob", orders_count=2)
    cyd = person("Cyd", orders_count=2)
    saved = NOW - timedelta(days=4)
    segment = segment_of(description="Customers who came back.", created_at=saved, updated_at=saved)
    with time_machine.travel(NOW - timedelta(days=3), tick=False):
        segment_refresh(segment)
    Profile.objects.filter(pk=cyd.pk).update(orders_count=1)
    Profile.objects.filter(pk=ada.pk).update(orders_count=4)
    with time_machine.travel(timezone.now() - timedelta(hours=1), tick=False):
        segment_refresh(segment)
    segment.refresh_from_db()
    return segment


# --- the list --------------------------------------------------------------------------------


def test_the_list_without_segments_explains_what_a_segment_is(signed_in):
    html = signed_in.get("/segments/").content.decode()
    assert "No segments yet" in html
    assert "A segment is a group of people" in html
    assert 'href="/segments/new/"' in html
    assert 'aria-current="page">Segments' in html


def test_the_list_shows_each_segment_with_size_sentence_freshness_and_trend(signed_in, buyers):
    # A week ago the segment held 5 people; a newer one grew since its first refresh; one
    # was never refreshed.
    SizeSnapshot.objects.create(segment=buyers, at=timezone.now() - timedelta(days=9), size=5)
    newer = segment_of(name="Big spenders", sentence="People whose Revenue is more than 500")
    SizeSnapshot.objects.create(segment=newer, at=timezone.now() - timedelta(days=2), size=10)
    Segment.objects.filter(pk=newer.pk).update(
        size=22, refreshed_at=timezone.now() - timedelta(minutes=3)
    )
    segment_of(name="Zero", sentence="")

    html = signed_in.get("/segments/").content.decode()

    rows = re.findall(r'<tr id="segment-(\d+)">(.*?)</tr>', html, re.S)
    assert [int(pk) for pk, _ in rows] == sorted(
        [buyers.pk, newer.pk, Segment.objects.get(name="Zero").pk],
        key=lambda pk: Segment.objects.get(pk=pk).name,
    )
    by_id = {int(pk): row for pk, row in rows}
    row = by_id[buyers.pk]
    assert "Repeat buyers" in row and SENTENCE in row
    assert f'href="/segments/{buyers.pk}/"' in row
    assert ">2<" in row  # the size
    assert "-3" in row  # 5 a week ago, 2 now
    assert "an hour ago" in row
    row = by_id[newer.pk]
    assert "+12" in row and "Since its first refresh" in row
    assert "3\xa0minutes ago" in row or "3 minutes ago" in row
    row = by_id[Segment.objects.get(name="Zero").pk]
    assert "Not yet" in row
    assert 'href="/segments/new/"' in html


def test_the_list_costs_the_same_queries_for_many_segments(
    signed_in, django_assert_max_num_queries
):
    for n in range(15):
        segment = segment_of(name=f"Segment {n}")
        SizeSnapshot.objects.create(segment=segment, at=timezone.now(), size=n)
    with django_assert_max_num_queries(4):  # session, user, segments with their trend
        assert signed_in.get("/segments/").status_code == 200


def test_the_list_flags_a_failed_refresh(signed_in):
    segment_of(refresh_error="The definition is not valid any more: no such trait.")
    html = signed_in.get("/segments/").content.decode()
    assert "Refresh failed" in html and "no such trait" in html


# --- a segment's page ------------------------------------------------------------------------


def test_the_page_shows_size_history_changes_members_and_actions(signed_in, buyers):
    ada = Profile.objects.get(name="Ada")
    cyd = Profile.objects.get(name="Cyd")

    html = signed_in.get(f"/segments/{buyers.pk}/").content.decode()

    assert "<h1>Repeat buyers</h1>" in html
    assert "Customers who came back." in html and SENTENCE in html
    assert '<div class="figure" id="segment-size">2</div>' in html
    assert re.search(r"Refreshed <time[^>]*>an hour ago</time> in [\d,]+ ms", html)
    assert "Refreshed every 5 minutes." in html
    assert f'action="/segments/{buyers.pk}/refresh/"' in html and "Refresh now" in html
    # Size over time, drawn in the page: two snapshots (3, then 2) as a step line.
    chart = re.search(r'<svg class="size-chart".*?</svg>', html, re.S).group()
    assert '<path class="line"' in chart and "3 people" in chart and "2 people" in chart
    # Entries and exits, linked.
    changes = html[html.index("Recent entries and exits") :]
    assert "Left" in changes and f'href="/profiles/{cyd.pk}/"' in changes
    assert f'href="/segments/{buyers.pk}/why/{cyd.pk}/"' in changes
    # Members link to their profiles and to why they are in.
    members = html[html.index('id="members"') : html.index("Recent entries and exits")]
    assert f'href="/profiles/{ada.pk}/"' in members and "Bob" in members
    assert "Cyd" not in members
    # The actions.
    assert f'href="/segments/{buyers.pk}/edit/"' in html
    assert f'action="/segments/{buyers.pk}/duplicate/"' in html
    assert f'href="/segments/{buyers.pk}/delete/"' in html
    assert f'href="/segments/{buyers.pk}/export.csv"' in html


def test_the_page_of_a_segment_never_refreshed_says_so(signed_in):
    segment = segment_of()
    html = signed_in.get(f"/segments/{segment.pk}/").content.decode()
    # Just saved: its first count is on its way.
    assert "Counting the members…" in html and "Not refreshed yet." not in html
    assert "Members appear after the first refresh" in html
    assert "The history starts with the first refresh." in html
    assert signed_in.get("/segments/999999/").status_code == 404


def test_the_page_shows_a_failed_refresh(signed_in, buyers):
    Segment.objects.filter(pk=buyers.pk).update(refresh_error="The query failed: boom")
    html = signed_in.get(f"/segments/{buyers.pk}/").content.decode()
    assert "The last refresh failed" in html and "The query failed: boom" in html


def test_members_page_newest_first_with_a_keyset_link_and_an_htmx_fragment(signed_in):
    segment = segment_of()
    start = timezone.now() - timedelta(days=1)
    for n in range(55):
        profile = person(f"P{n:02d}", orders_count=2)
        Membership.objects.create(
            segment=segment, profile=profile, entered_at=start + timedelta(minutes=n // 2)
        )
    Segment.objects.filter(pk=segment.pk).update(size=55, refreshed_at=timezone.now())

    html = signed_in.get(f"/segments/{segment.pk}/").content.decode()
    first = re.findall(r">(P\d\d)</a>", html)
    assert len(first) == 50 and first[0] == "P54"
    cursor = re.search(r'\?before=([\d.]+)"', html).group(1)

    response = signed_in.get(
        f"/segments/{segment.pk}/", {"before": cursor}, headers={**HTMX, "HX-Target": "members"}
    )
    fragment = response.content.decode()
    assert fragment.lstrip().startswith('<div id="members"')
    assert "<html" not in fragment
    rest = re.findall(r">(P\d\d)</a>", fragment)
    assert len(rest) == 5 and not set(rest) & set(first)
    assert sorted(first + rest) == sorted(f"P{n:02d}" for n in range(55))
    assert "← Newest members" in fragment and "?before=" not in fragment.split("Newest")[1]

    # Without JavaScript the same link loads the whole page at that point.
    html = signed_in.get(f"/segments/{segment.pk}/", {"before": cursor}).content.decode()
    assert "<html" in html and re.findall(r">(P\d\d)</a>", html) == rest


# --- refresh now -----------------------------------------------------------------------------


def test_refresh_now_updates_the_members_and_says_what_changed(signed_in, buyers):
    person("Dee", orders_count=7)
    response = signed_in.post(f"/segments/{buyers.pk}/refresh/", follow=True)
    html = response.content.decode()
    assert response.redirect_chain == [(f"/segments/{buyers.pk}/", 302)]
    assert re.search(r"Refreshed in [\d,]+ ms: 3 people, 1 entered and 0 left\.", html)
    assert '<div class="figure" id="segment-size">3</div>' in html
    assert Membership.objects.filter(segment=buyers, profile__name="Dee").exists()


def test_refresh_now_reports_a_definition_that_fails(signed_in, buyers):
    Segment.objects.filter(pk=buyers.pk).update(
        definition=group(computed("no_such_attribute", "gte", 1))
    )
    html = signed_in.post(f"/segments/{buyers.pk}/refresh/", follow=True).content.decode()
    assert "The refresh failed" in html and "no_such_attribute" in html
    assert Membership.objects.filter(segment=buyers).count() == 2


def test_refresh_now_hands_a_big_segment_to_a_worker(signed_in, buyers, settings, monkeypatch):
    settings.SEGMENTS_INLINE_REFRESH_MAX = 1
    sent = []
    monkeypatch.setattr(
        celery_app, "send_task", lambda name, args=None, **options: sent.append((name, args))
    )
    html = signed_in.post(f"/segments/{buyers.pk}/refresh/", follow=True).content.decode()
    assert sent == [("segments.refresh", [buyers.pk])]
    assert "being refreshed in the background" in html


def test_refresh_needs_a_post(signed_in, buyers):
    assert signed_in.get(f"/segments/{buyers.pk}/refresh/").status_code == 405
    assert signed_in.post("/segments/999999/refresh/").status_code == 404


# --- export ----------------------------------------------------------------------------------


def test_export_streams_the_members_as_csv_with_formulas_defused(signed_in, buyers):
    Profile.objects.filter(name="Ada").update(
        name='=HYPERLINK("http://evil","x")', rfm_score="-1", email="@ada@example.com"
    )
    Profile.objects.filter(name="Bob").update(name='+Bob, "the" buyer', user_id="\tbob")
    with time_machine.travel(NOW, tick=False):
        response = signed_in.get(f"/segments/{buyers.pk}/export.csv")

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    filename = f"repeat-buyers-{NOW:%Y-%m-%d}.csv"
    assert response["Content-Disposition"] == f'attachment; filename="{filename}"'
    assert response["Cache-Control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert list(rows[0]) == [
        "profile_id",
        "user_id",
        "anonymous_id",
        "email",
        "name",
        "entered_at",
        "email_consent",
        "last_seen",
        "orders_count",
        "revenue",
        "last_order_at",
        "rfm_score",
    ]
    by_name = {row["name"]: row for row in rows}
    assert set(by_name) == {'\'=HYPERLINK("http://evil","x")', '\'+Bob, "the" buyer'}
    ada = by_name['\'=HYPERLINK("http://evil","x")']
    assert ada["email"] == "'@ada@example.com" and ada["rfm_score"] == "'-1"
    assert ada["orders_count"] == "4" and ada["revenue"] == "0.00"
    assert ada["profile_id"] == str(Profile.objects.get(user_id="user-ada").pk)
    assert datetime.fromisoformat(ada["entered_at"]) == NOW - timedelta(days=3)
    assert by_name['\'+Bob, "the" buyer']["user_id"] == "'\tbob"


def test_export_of_an_empty_segment_is_its_header(signed_in):
    segment = segment_of(name="Ünïcode / segment!")
    response = signed_in.get(f"/segments/{segment.pk}/export.csv")
    body = b"".join(response.streaming_content).decode()
    assert body.splitlines() == [
        "profile_id,user_id,anonymous_id,email,name,entered_at,email_consent,last_seen,"
        "orders_count,revenue,last_order_at,rfm_score"
    ]
    assert 'filename="unicode-segment-' in response["Content-Disposition"]


# --- why -------------------------------------------------------------------------------------


def test_why_explains_each_condition_for_a_member(signed_in, buyers):
    Segment.objects.filter(pk=buyers.pk).update(
        definition=group(
            computed("orders_count", "gte", 2),
            group(
                computed("revenue", "gt", 100),
                {"kind": "consent", "negate": False, "channel": "email", "state": "unknown"},
                match="any",
            ),
        )
    )
    ada = Profile.objects.get(name="Ada")

    html = signed_in.get(f"/segments/{buyers.pk}/why/{ada.pk}/").content.decode()

    assert "Why is" in html and "Ada" in html and "in “Repeat buyers”?" in html
    assert "Member</span> since" in html
    nodes = re.findall(r'<li class="why-node (met|unmet)">', html)
    assert nodes == ["met", "met", "met", "unmet", "met"]
    assert "Orders: 4" in html
    assert "email consent: Not given" in html
    assert html.count('<ul class="why-tree') == 3


def test_why_tells_when_the_next_refresh_will_change_membership(signed_in, buyers):
    cyd = Profile.objects.get(name="Cyd")
    html = signed_in.get(f"/segments/{buyers.pk}/why/{cyd.pk}/").content.decode()
    assert "not in “Repeat buyers”?" in html
    assert "Not a member</span> Left" in html
    assert "Orders: 1" in html and 'class="why-node unmet"' in html

    Profile.objects.filter(pk=cyd.pk).update(orders_count=9)
    html = signed_in.get(f"/segments/{buyers.pk}/why/{cyd.pk}/").content.decode()
    assert "this person enters at the next refresh" in html


def test_why_shows_a_definition_that_no_longer_checks(signed_in, buyers):
    Segment.objects.filter(pk=buyers.pk).update(
        definition=group(
            {
                "kind": "attribute",
                "negate": False,
                "scope": "trait",
                "path": "gone",
                "operator": "equals",
                "value": "x",
            }
        )
    )
    ada = Profile.objects.get(name="Ada")
    html = signed_in.get(f"/segments/{buyers.pk}/why/{ada.pk}/").content.decode()
    assert "cannot be evaluated any more" in html and "gone" in html


def test_why_follows_a_merged_profile_to_the_person_it_became(signed_in, buyers):
    ada = Profile.objects.get(name="Ada")
    ProfileMerge.objects.create(survivor=ada, merged_profile_id=424242, reason="test")
    response = signed_in.get(f"/segments/{buyers.pk}/why/424242/")
    assert response.status_code == 302
    assert response["Location"] == f"/segments/{buyers.pk}/why/{ada.pk}/"
    assert signed_in.get(f"/segments/{buyers.pk}/why/515151/").status_code == 404


# --- the profile page ------------------------------------------------------------------------


def test_the_profile_page_lists_the_segments_a_person_is_in_and_left(signed_in, buyers):
    ada = Profile.objects.get(name="Ada")
    cyd = Profile.objects.get(name="Cyd")
    other = segment_of(name="Everyone", definition=group(), sentence="Everyone")
    segment_refresh(other)

    html = signed_in.get(f"/profiles/{ada.pk}/").content.decode()
    section = _segments_section(html)
    assert "Repeat buyers" in section and "Everyone" in section
    assert section.count(">In</span> since") == 2
    assert f'href="/segments/{buyers.pk}/why/{ada.pk}/"' in section

    html = signed_in.get(f"/profiles/{cyd.pk}/").content.decode()
    section = _segments_section(html)
    assert "Left</span>" in section and "Repeat buyers" in section
    assert f'href="/segments/{buyers.pk}/why/{cyd.pk}/"' in section
    assert section.count(">In</span> since") == 1  # Everyone


def test_the_profile_page_of_someone_in_no_segment_says_so(signed_in):
    someone = person("Eve")
    html = signed_in.get(f"/profiles/{someone.pk}/").content.decode()
    assert "Not in any segment." in html


def test_a_person_who_left_and_came_back_shows_once_as_in(signed_in, buyers):
    cyd = Profile.objects.get(name="Cyd")
    Profile.objects.filter(pk=cyd.pk).update(orders_count=5)
    segment_refresh(buyers)
    assert MembershipChange.objects.filter(profile=cyd).count() == 3
    html = signed_in.get(f"/profiles/{cyd.pk}/").content.decode()
    section = _segments_section(html)
    assert section.count("Repeat buyers") == 1 and ">In</span> since" in section


# --- access ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/segments/", "/segments/{pk}/", "/segments/{pk}/export.csv", "/segments/{pk}/why/{profile}/"],
)
def test_every_page_needs_a_signed_in_marketer(client, buyers, path):
    profile = Profile.objects.get(name="Ada")
    response = client.get(path.format(pk=buyers.pk, profile=profile.pk))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert client.post(f"/segments/{buyers.pk}/refresh/").status_code == 302


# --- waiting for a refresh -------------------------------------------------------------------


POLL = 'hx-trigger="every 2s"'


def watch_token(html: str) -> str:
    return re.search(r'\?watch=([0-9_]+)"', html).group(1)


def test_a_page_opened_before_the_first_refresh_polls_until_it_ends(signed_in):
    person("Ada", orders_count=3)
    segment = segment_of()  # just saved: a refresh is queued
    html = signed_in.get(f"/segments/{segment.pk}/").content.decode()
    assert POLL in html and "Counting the members…" in html
    assert "This updates when the count ends." in html and "Not refreshed yet." not in html
    token = watch_token(html)

    poll = signed_in.get(f"/segments/{segment.pk}/", {"watch": token}, headers=HTMX)
    block = poll.content.decode()
    assert block.lstrip().startswith('<div id="segment-size-block"')
    assert POLL in block and "<html" not in block

    segment_refresh(segment)
    poll = signed_in.get(f"/segments/{segment.pk}/", {"watch": token}, headers=HTMX)
    block = poll.content.decode()
    assert POLL not in block  # polling stops
    assert '<div class="figure" id="segment-size">1</div>' in block
    assert "Refreshed <time" in block and "A refresh is on its way" not in block
    # What the refresh changed comes with it, out of band.
    for part in ("members", "size-history", "changes", "refresh-error"):
        assert f'<div id="{part}"' in block
        assert re.search(rf'<div id="{part}"[^>]*hx-swap-oob="true"', block)
    assert "Ada" in block and "size-chart" in block

    # Once refreshed, the page does not poll.
    assert POLL not in signed_in.get(f"/segments/{segment.pk}/").content.decode()


def test_a_failed_refresh_also_ends_the_wait(signed_in):
    segment = segment_of(definition=group(computed("no_such_attribute", "gte", 1)))
    token = watch_token(signed_in.get(f"/segments/{segment.pk}/").content.decode())
    segment_refresh(segment)
    block = signed_in.get(
        f"/segments/{segment.pk}/", {"watch": token}, headers=HTMX
    ).content.decode()
    assert POLL not in block and "The last refresh failed" in block


def test_a_page_stops_waiting_after_a_while(signed_in):
    segment = segment_of()
    token = watch_token(signed_in.get(f"/segments/{segment.pk}/").content.decode())
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        block = signed_in.get(
            f"/segments/{segment.pk}/", {"watch": token}, headers=HTMX
        ).content.decode()
        assert POLL not in block and "Not refreshed yet." in block
        # Saved long ago and never refreshed: nothing is on its way.
        assert POLL not in signed_in.get(f"/segments/{segment.pk}/").content.decode()


def test_an_edit_after_the_last_refresh_polls_until_the_next(signed_in, buyers):
    assert POLL not in signed_in.get(f"/segments/{buyers.pk}/").content.decode()
    Segment.objects.filter(pk=buyers.pk).update(updated_at=timezone.now())
    html = signed_in.get(f"/segments/{buyers.pk}/").content.decode()
    assert POLL in html and "Refreshed <time" in html
    # A malformed token is an answer without polling, never an error.
    block = signed_in.get(f"/segments/{buyers.pk}/", {"watch": "x"}, headers=HTMX)
    assert block.status_code == 200


def test_refresh_now_never_waits_behind_a_running_refresh(signed_in, buyers, monkeypatch):
    calls = []

    def busy(segment, **options):
        calls.append(options)
        return None  # another refresh holds the segment

    monkeypatch.setattr("segments.membership.segment_refresh", busy)
    response = signed_in.post(f"/segments/{buyers.pk}/refresh/", follow=True)
    assert calls == [{"skip_locked": True}]
    assert response.redirect_chain == [(f"/segments/{buyers.pk}/?refreshing=1", 302)]
    html = response.content.decode()
    assert "A refresh is already running; the page updates when it ends." in html
    assert POLL in html

    def deleted(segment, **options):
        Segment.objects.filter(pk=segment.pk).delete()

    monkeypatch.setattr("segments.membership.segment_refresh", deleted)
    assert signed_in.post(f"/segments/{buyers.pk}/refresh/").status_code == 404


# --- the size chart ----------------------------------------------------------------------------


def test_the_size_chart_draws_each_refresh_at_its_time(signed_in):
    from segments.selectors import size_history
    from segments.templatetags.segment_tags import size_chart

    segment = segment_of(size=1, refreshed_at=NOW)
    for minutes, size in ((10, 3), (6, 2), (2, 1)):
        SizeSnapshot.objects.create(segment=segment, at=NOW - timedelta(minutes=minutes), size=size)
    with time_machine.travel(NOW, tick=False):
        points = size_history(segment=segment)
        chart = str(size_chart(points))
    assert [p.size for p in points] == [3, 2, 1, 1]
    assert [p.at for p in points[:3]] == [NOW - timedelta(minutes=m) for m in (10, 6, 2)]
    # A step line with three levels, at the refreshes' times: the 4 minutes from 3 to 2 are
    # as wide as the 4 minutes from 2 to 1.
    line = re.search(r'<path class="line" d="([^"]+)"', chart).group(1)
    steps = re.findall(r"H([\d.]+)V([\d.]+)", line)
    levels = {float(y) for _, y in steps} | {float(re.match(r"M[\d.]+,([\d.]+)", line)[1])}
    assert len(levels) == 3
    xs = [float(re.match(r"M([\d.]+)", line)[1])] + [float(x) for x, _ in steps]
    assert abs((xs[1] - xs[0]) - (xs[2] - xs[1])) < 1
    first = timezone.localtime(NOW - timedelta(minutes=10))
    assert f">{first:%d %b %H:%M}</text>" in chart
    assert f">{timezone.localtime(NOW):%H:%M}</text>" in chart


# --- export order and ids ----------------------------------------------------------------------


def test_export_lists_the_newest_members_first_with_an_anonymous_id(
    signed_in, django_assert_max_num_queries
):
    from profiles.models import Identity

    segment = segment_of()
    start = timezone.now() - timedelta(days=1)
    for n in range(6):
        profile = person(f"P{n}", orders_count=2)
        Membership.objects.create(
            segment=segment, profile=profile, entered_at=start + timedelta(hours=n)
        )
        for m in range(n % 3):  # none, one, or two devices
            Identity.objects.create(
                profile=profile,
                namespace="anonymous_id",
                value=f"anon-{n}-{m}",
                first_seen=start + timedelta(minutes=m),
            )
    with django_assert_max_num_queries(4):
        response = signed_in.get(f"/segments/{segment.pk}/export.csv")
        rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["name"] for row in rows] == ["P5", "P4", "P3", "P2", "P1", "P0"]
    # One id each: the device seen last.
    assert [row["anonymous_id"] for row in rows] == [
        "anon-5-1",
        "anon-4-0",
        "",
        "anon-2-1",
        "anon-1-0",
        "",
    ]


def _segments_section(html: str) -> str:
    """The profile page's list of segments, from its opening to its end."""
    start = html.index('id="segments"')
    return html[start : html.index("</section>", start)]
