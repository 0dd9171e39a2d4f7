"""The journey editor's pages: creating a journey, editing its trigger, steps and settings
(each form's validation), adding, removing and moving steps, publishing (refused with the
problems), activating, and moving people in flight to the latest version."""

from __future__ import annotations

import pytest
from django.test import Client

from campaigns.defaults import campaigns_setup
from campaigns.journeys import editor
from campaigns.journeys.services import journey_problems
from campaigns.models import Campaign, Enrollment, JourneyVersion
from cdp_project.access.models import AuditEntry
from segments import services as segment_services
from segments.definition import empty_group
from tests.conftest import process_stored

pytestmark = pytest.mark.django_db


@pytest.fixture
def marketer(django_user_model):
    return django_user_model.objects.create_user("marketer", "m@example.com", "pw")


@pytest.fixture
def signed_in(marketer) -> Client:
    browser = Client()
    browser.force_login(marketer)
    return browser


def _new(signed_in: Client, template: str = "blank", name: str = "Shoes") -> Campaign:
    response = signed_in.post("/campaigns/journeys/new/", {"name": name, "template": template})
    assert response.status_code == 302, response.content
    journey = Campaign.objects.get(kind=Campaign.Kind.JOURNEY, name=name)
    assert response["Location"] == f"/campaigns/{journey.pk}/journey/"
    return journey


def _url(journey: Campaign, tail: str = "") -> str:
    return f"/campaigns/{journey.pk}/journey/{tail}"


def _add(signed_in: Client, journey: Campaign, kind: str, after: str = "", branch: str = "") -> str:
    response = signed_in.post(
        _url(journey, "steps/add/"), {"type": kind, "after": after, "branch": branch}
    )
    assert response.status_code == 302
    step_id = response["Location"].split("?edit=")[1].split("#")[0]
    journey.refresh_from_db()
    assert editor.step_find(journey.draft, step_id) is not None
    return step_id


def test_the_campaigns_page_offers_new_journeys_from_templates_and_built_ins(signed_in):
    campaigns_setup()
    html = signed_in.get("/campaigns/").content.decode()
    assert "New journey" in html
    for value in ("blank", "welcome", "browse_cart_order", "builtin:abandoned_cart"):
        assert f'value="{value}"' in html
    journey = _new(signed_in, "builtin:abandoned_cart", "Cart copy")
    assert journey.draft["steps"] and journey.status == Campaign.Status.DRAFT
    html = signed_in.get("/campaigns/").content.decode()
    assert f"/campaigns/{journey.pk}/journey/" in html and "not published yet" in html
    assert AuditEntry.objects.filter(action="journey.create").exists()


def test_a_new_journey_needs_a_name_and_a_known_template(signed_in):
    response = signed_in.post("/campaigns/journeys/new/", {"name": "  ", "template": "blank"})
    assert response.status_code == 302 and response["Location"].endswith("#new-journey")
    response = signed_in.post("/campaigns/journeys/new/", {"name": "X", "template": "nope"})
    assert response.status_code == 302
    assert not Campaign.objects.filter(kind=Campaign.Kind.JOURNEY).exists()
    html = signed_in.get("/campaigns/").content.decode()
    assert "Give the journey a name." in html


def test_the_editor_draws_a_template_in_words_with_branches(signed_in):
    journey = _new(signed_in, "browse_cart_order")
    html = signed_in.get(_url(journey)).content.decode()
    assert "When someone does any “Product added to cart” activity" in html
    assert "Wait up to 1 hour for any “Order completed” activity with the same cart_id" in html
    assert "If opted in to email" in html
    assert 'class="branches"' in html and "timed out" in html
    assert "Nothing: the draft can be published." in html
    # A built-in is not a journey: no editor.
    campaigns_setup()
    builtin = Campaign.objects.exclude(kind=Campaign.Kind.JOURNEY).first()
    assert signed_in.get(_url(builtin)).status_code == 404


def test_the_blank_journey_names_its_problems_next_to_the_step(signed_in):
    journey = _new(signed_in)
    step = _add(signed_in, journey, "wait_for")
    html = signed_in.get(_url(journey)).content.decode()
    assert f"Step “{step}”: choose an activity." in html
    card = html.split(f'id="step-{step}"')[1]
    assert "choose an activity" in card.split("</li>")[0]


def test_building_the_shoes_journey_step_by_step(signed_in, ingest):
    # The catalog learns the property the trigger filters on from a first event.
    added = {"event": "Product Added", "userId": "early", "properties": {"category": "Shoes"}}
    assert ingest("track", added).status_code == 200
    process_stored()
    journey = _new(signed_in)
    response = signed_in.post(
        _url(journey, "trigger/"),
        {
            "kind": "activity",
            "activity": "role:product_added",
            "where.0:path": "category",
            "where.0:operator": "equals",
            "where.0:value": "Shoes",
            "entry_key": "",
        },
    )
    assert response.status_code == 302
    wait = _add(signed_in, journey, "wait_for")
    response = signed_in.post(
        _url(journey, f"steps/{wait}/"),
        {
            "activity": "role:order_completed",
            "match_keys": "cart_id",
            "timeout_amount": "1",
            "timeout_unit": "hours",
        },
    )
    assert response.status_code == 302, response.content.decode()
    split = _add(signed_in, journey, "split", wait, "timed_out")
    response = signed_in.post(_url(journey, f"steps/{split}/"), {"consent": "email:granted"})
    assert response.status_code == 302
    send = _add(signed_in, journey, "send", split, "yes")
    response = signed_in.post(
        _url(journey, f"steps/{send}/"),
        {
            "channel": "email",
            "transactional": "0",
            "subject": "You left something behind",
            "html": "<p>{{ cart.count }} items</p>",
            "text": "",
            "items": "cart",
        },
    )
    assert response.status_code == 302
    done = _add(signed_in, journey, "exit", split, "no")
    journey.refresh_from_db()
    draft = journey.draft
    assert journey_problems(draft) == []
    assert draft["start"] == wait
    assert editor.step_find(draft, wait)["timed_out"] == split
    assert editor.step_find(draft, split)["yes"] == send
    assert editor.step_find(draft, split)["no"] == done
    assert draft["trigger"]["where"] == [
        {"path": "category", "operator": "equals", "value": "Shoes"}
    ]
    # Publish, then activate.
    assert signed_in.post(_url(journey, "publish/")).status_code == 302
    journey.refresh_from_db()
    assert journey.version.number == 1
    signed_in.post(f"/campaigns/{journey.pk}/status/", {"status": "active"})
    journey.refresh_from_db()
    assert journey.status == Campaign.Status.ACTIVE
    html = signed_in.get(_url(journey)).content.decode()
    assert "The draft is the same as the live version 1." in html


def test_publishing_a_bad_journey_is_refused_with_its_problems(signed_in):
    journey = _new(signed_in)
    step = _add(signed_in, journey, "wait_for")
    signed_in.post(_url(journey, "trigger/"), {"kind": "segment", "segment": ""})
    response = signed_in.post(_url(journey, "publish/"), follow=True)
    html = response.content.decode()
    assert "Not published: 1 problem to correct first" in html
    assert f"Step “{step}”: choose an activity." in html
    assert not JourneyVersion.objects.filter(campaign=journey).exists()
    # Activating without a version is refused too.
    response = signed_in.post(f"/campaigns/{journey.pk}/status/", {"status": "active"}, follow=True)
    assert "Publish the journey first" in response.content.decode()
    journey.refresh_from_db()
    assert journey.status == Campaign.Status.DRAFT


@pytest.mark.parametrize(
    "kind,data,error",
    [
        ("wait", {"amount": "", "unit": "hours"}, "Wait a duration, or until a time of day"),
        ("wait", {"amount": "400", "unit": "days"}, "At most 366 days."),
        ("wait", {"amount": "-1", "unit": "hours"}, "greater than or equal to 0"),
        ("wait", {"amount": "1", "unit": "hours", "until": "25:00"}, "Enter a valid time."),
        (
            "wait_for",
            {"activity": "", "timeout_amount": "1", "timeout_unit": "hours"},
            "Choose the activity to wait for.",
        ),
        (
            "wait_for",
            {"activity": "role:order_completed", "timeout_amount": "", "timeout_unit": "hours"},
            "Give a duration.",
        ),
        (
            "wait_for",
            {
                "activity": "role:order_completed",
                "timeout_amount": "1",
                "timeout_unit": "hours",
                "match_keys": "a,b,c,d,e,f",
            },
            "At most 5 keys.",
        ),
        (
            "wait_for",
            {
                "activity": "role:order_completed",
                "timeout_amount": "1",
                "timeout_unit": "hours",
                "where.0:path": "total",
                "where.0:operator": "gt",
                "where.0:value": "",
            },
            "give a value to compare with",
        ),
        ("split", {}, "Give at least one condition."),
        (
            "split",
            {"trait": "computed:rfm_score", "trait_operator": ""},
            "Choose how to compare the trait.",
        ),
        (
            "split",
            {"trait": "computed:rfm_score", "trait_operator": "equals", "trait_value": ""},
            "Give a value to compare the trait with.",
        ),
        (
            "split",
            {"did_where.0:path": "sku", "did_where.0:operator": "equals", "did_where.0:value": "1"},
            "Choose the activity the property filters are about.",
        ),
        (
            "random",
            {"label_0": "A", "percent_0": "60", "label_1": "B", "percent_1": "30"},
            "The shares must add up to 100 %.",
        ),
        (
            "random",
            {"label_0": "A", "percent_0": "100"},
            "A random split has two to four branches.",
        ),
        (
            "random",
            {"label_0": "A", "percent_0": "50", "label_1": "B"},
            "Give this branch its share.",
        ),
        (
            "send",
            {"channel": "email", "transactional": "0", "subject": "", "html": "x"},
            "The email needs a subject.",
        ),
        (
            "send",
            {"channel": "email", "transactional": "0", "subject": "Hi", "html": "", "text": ""},
            "The email needs an HTML or a text body.",
        ),
        (
            "send",
            {"channel": "email", "transactional": "0", "subject": "Hi", "html": "{% if %}"},
            "This template cannot be used",
        ),
        (
            "send",
            {"channel": "email", "transactional": "0", "subject": "{{ x.__class__ }}", "text": "b"},
            "This template cannot be used",
        ),
        (
            "send",
            {"channel": "webhook", "transactional": "0", "webhook_url": ""},
            "The webhook needs the address to post to.",
        ),
        (
            "send",
            {
                "channel": "email",
                "transactional": "0",
                "subject": "Hi",
                "text": "b",
                "sender_email": "nope",
            },
            "Enter a valid email address.",
        ),
        ("update", {"traits": "", "note": ""}, "Set a trait or write a note."),
        ("update", {"traits": "no equals sign"}, "Line 1: write key = value."),
    ],
)
def test_each_step_form_refuses_what_cannot_run(signed_in, kind, data, error):
    journey = _new(signed_in)
    step = _add(signed_in, journey, kind)
    journey.refresh_from_db()
    before = journey.draft
    response = signed_in.post(_url(journey, f"steps/{step}/"), data)
    assert response.status_code == 400
    html = response.content.decode()
    assert error in html, html[html.find("Not saved") : html.find("Not saved") + 2000]
    assert "Not saved" in html
    journey.refresh_from_db()
    assert journey.draft == before


@pytest.mark.parametrize(
    "data,error",
    [
        ({"kind": "activity", "activity": ""}, "Choose the activity that lets people in."),
        ({"kind": "segment", "segment": ""}, "Choose the segment."),
        ({"kind": "date", "trait": ""}, "Choose the trait that holds the date."),
        (
            {"kind": "broadcast", "segment": "", "repeat": "weekly"},
            "A recurring broadcast needs its first date.",
        ),
        ({"kind": "nope"}, "Select a valid choice."),
    ],
)
def test_the_trigger_form_refuses_what_cannot_run(signed_in, data, error):
    journey = _new(signed_in)
    response = signed_in.post(_url(journey, "trigger/"), data)
    assert response.status_code == 400
    assert error in response.content.decode()


def test_other_triggers_are_saved(signed_in, marketer):
    from cdp_project.access.actors import Actor

    segment = segment_services.segment_create(
        actor=Actor.for_user(marketer), name="Lapsed", definition=empty_group()
    )
    journey = _new(signed_in)
    signed_in.post(
        _url(journey, "trigger/"), {"kind": "segment", "segment": segment.pk, "on": "exit"}
    )
    journey.refresh_from_db()
    assert journey.draft["trigger"] == {"kind": "segment", "segment": segment.pk, "on": "exit"}
    signed_in.post(
        _url(journey, "trigger/"),
        {
            "kind": "broadcast",
            "segment": segment.pk,
            "start": "2026-12-24T09:00",
            "repeat": "weekly",
        },
    )
    journey.refresh_from_db()
    assert journey.draft["trigger"]["repeat"] == "weekly"
    assert journey.draft["trigger"]["start"].startswith("2026-12-24T09:00")
    html = signed_in.get(_url(journey)).content.decode()
    assert "Everyone in “Lapsed”" in html and "then every week" in html
    signed_in.post(_url(journey, "trigger/"), {"kind": "date", "trait": "", "at": "08:30"})
    response = signed_in.post(
        _url(journey, "trigger/"), {"kind": "date", "trait": "email", "at": "08:30", "yearly": "on"}
    )
    assert response.status_code == 302
    journey.refresh_from_db()
    assert journey.draft["trigger"] == {
        "kind": "date",
        "trait": "email",
        "at": "08:30",
        "yearly": True,
    }


def test_removing_and_moving_steps(signed_in):
    journey = _new(signed_in)
    first = _add(signed_in, journey, "wait")
    second = _add(signed_in, journey, "update", first, "next")
    third = _add(signed_in, journey, "send", second, "next")
    journey.refresh_from_db()
    assert journey.draft["start"] == first
    # Move the update up: it comes first.
    assert (
        signed_in.post(_url(journey, f"steps/{second}/move/"), {"direction": "up"}).status_code
        == 302
    )
    journey.refresh_from_db()
    assert journey.draft["start"] == second
    assert editor.step_find(journey.draft, second)["next"] == first
    assert editor.step_find(journey.draft, first)["next"] == third
    # Remove the wait: the send follows the update.
    response = signed_in.post(_url(journey, f"steps/{first}/remove/"), follow=True)
    assert "The steps after it now follow the step before it." in response.content.decode()
    journey.refresh_from_db()
    assert editor.step_find(journey.draft, second)["next"] == third
    assert editor.step_find(journey.draft, first) is None
    # A split with steps on both branches: its "yes" branch takes its place.
    split = _add(signed_in, journey, "split", second, "next")
    other = _add(signed_in, journey, "exit", split, "no")
    response = signed_in.post(_url(journey, f"steps/{split}/remove/"), follow=True)
    assert "removed with it (1 step)" in response.content.decode()
    journey.refresh_from_db()
    assert editor.step_find(journey.draft, other) is None
    assert editor.step_find(journey.draft, second)["next"] == third
    # A move that is not in a straight run is refused.
    response = signed_in.post(
        _url(journey, f"steps/{second}/move/"), {"direction": "up"}, follow=True
    )
    assert "Only a step in a straight run moves" in response.content.decode()


def test_an_exit_is_added_only_where_nothing_follows(signed_in):
    journey = _new(signed_in)
    first = _add(signed_in, journey, "wait")
    _add(signed_in, journey, "send", first, "next")
    response = signed_in.post(
        _url(journey, "steps/add/"), {"type": "exit", "after": first, "branch": "next"}, follow=True
    )
    assert "An exit ends the journey" in response.content.decode()


def test_the_settings_form(signed_in):
    journey = _new(signed_in, "welcome")
    data = {
        "name": "Welcome",
        "exit_on": ["role:order_completed"],
        "goal": "role:order_completed",
        "goal_days": "5",
        "audience": "",
        "reentry": "per_days",
        "reentry_days": "14",
        "control_percent": "10",
        "quiet_start": "",
        "quiet_end": "",
        "cap_count": "2",
        "cap_hours": "24",
    }
    assert signed_in.post(_url(journey, "settings/"), data).status_code == 302
    journey.refresh_from_db()
    assert (journey.reentry, journey.reentry_days, journey.control_percent) == ("per_days", 14, 10)
    assert journey.conversion_days == 5
    assert journey.draft["exit_on"] == [{"role": "order_completed"}]
    assert journey.draft["goal"] == {"activity": {"role": "order_completed"}, "days": 5}
    for change, error in (
        ({"control_percent": "80"}, "At most 50%"),
        ({"quiet_start": "22:00"}, "Give both ends of the quiet hours"),
        ({"reentry_days": "0"}, "Between 1 and 3,650 days."),
        ({"goal_days": "200"}, "less than or equal to 90"),
        ({"name": " "}, "This field is required."),
    ):
        response = signed_in.post(_url(journey, "settings/"), {**data, **change})
        assert response.status_code == 400, change
        assert error in response.content.decode(), change


def test_a_live_journey_is_edited_as_a_draft_and_versions_count_people_in_flight(signed_in):
    from profiles.models import Profile

    journey = _new(signed_in, "browse_cart_order")
    signed_in.post(_url(journey, "publish/"))
    journey.refresh_from_db()
    v1 = journey.version
    profile = Profile.objects.create(user_id="ann")
    Enrollment.objects.create(
        campaign=journey,
        version=v1,
        profile=profile,
        node="wait_order",
        trigger_at=v1.created_at,
        due_at=v1.created_at,
    )
    # Editing the live journey changes the draft only.
    signed_in.post(
        _url(journey, "steps/wait_order/"),
        {
            "activity": "role:order_completed",
            "match_keys": "cart_id",
            "timeout_amount": "2",
            "timeout_unit": "hours",
        },
    )
    journey.refresh_from_db()
    assert journey.version.definition == v1.definition
    html = signed_in.get(_url(journey)).content.decode()
    assert "The draft differs from the live version 1." in html
    signed_in.post(_url(journey, "publish/"))
    journey.refresh_from_db()
    assert journey.version.number == 2
    html = signed_in.get(_url(journey)).content.decode()
    row1 = html.split('id="version-1"')[1].split("</tr>")[0]
    assert '<td class="num">1</td>' in row1
    assert Enrollment.objects.get(profile=profile).version_id == v1.pk
    response = signed_in.post(_url(journey, "move/"), follow=True)
    assert "1 person in flight moved to version 2" in response.content.decode()
    assert Enrollment.objects.get(profile=profile).version_id == journey.version_id


def test_the_draft_drawing_keeps_branches_side_by_side_and_unreached_steps_apart():
    draft = {
        "start": "a",
        "steps": [
            {
                "id": "a",
                "type": "random",
                "branches": [
                    {"percent": 50, "next": "b", "label": "A"},
                    {"percent": 50, "next": "", "label": "B"},
                ],
            },
            {"id": "b", "type": "exit"},
            {"id": "c", "type": "wait", "seconds": 60},
        ],
    }
    drawing = editor.drawing(draft, ["Step “c” cannot be reached from the start."], {})
    assert [s.id for s in drawing.run] == ["a"]
    assert [b.label for b in drawing.run[0].branches] == ["A", "B"]
    assert [s.id for s in drawing.run[0].branches[0].run] == ["b"]
    assert [s.id for s in drawing.loose] == ["c"]
    assert drawing.loose[0].problems and not drawing.general
    assert drawing.loose[0].words == "Wait 1 minute"


def test_the_trigger_form_shows_the_fields_of_the_kind_chosen(signed_in):
    journey = _new(signed_in)
    html = signed_in.get(_url(journey) + "?edit=trigger").content.decode()
    assert 'name="activity"' in html and 'name="segment"' not in html
    assert 'hx-trigger="change"' in html
    html = signed_in.get(_url(journey) + "?edit=trigger&kind=broadcast").content.decode()
    assert 'name="segment"' in html and 'name="repeat"' in html and 'name="activity"' not in html
    # Without JavaScript, the button beside the kind asks for the same.
    response = signed_in.post(_url(journey, "trigger/"), {"kind": "date", "show": "1"})
    assert response["Location"].endswith("?edit=trigger&kind=date#trigger")
    journey.refresh_from_db()
    assert journey.draft["trigger"]["kind"] == "activity"


def test_steps_added_on_a_random_branch_and_moved_down_keep_the_graph_whole():
    draft = {"start": "", "steps": []}
    draft, ab = editor.step_add(draft, "random")
    draft, send = editor.step_add(draft, "send", ab, "branches.1")
    draft, wait = editor.step_add(draft, "wait", send, "next")
    assert [b["next"] for b in editor.step_find(draft, ab)["branches"]] == ["", send]
    assert editor.step_find(draft, send)["next"] == wait
    draft = editor.step_move(draft, send, "down")
    assert editor.step_find(draft, ab)["branches"][1]["next"] == wait
    assert editor.step_find(draft, wait)["next"] == send
    assert editor.step_find(draft, send)["next"] == ""
    with pytest.raises(editor.EditError):
        editor.step_move(draft, wait, "up")  # a random split is not a plain step
    with pytest.raises(editor.EditError):
        editor.step_add(draft, "teleport")
    # Ids are short, by type, and never reused while the step exists.
    draft, second = editor.step_add(draft, "wait", wait, "next")
    assert (ab, send, wait, second) == ("ab_1", "send_1", "wait_1", "wait_2")
    # A branching step added before others takes them on its first branch.
    draft, split = editor.step_add(draft, "split")
    assert draft["start"] == split and editor.step_find(draft, split)["yes"] == ab
