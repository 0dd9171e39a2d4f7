"""Funnels of chosen steps against the store of conftest.py: order in time, property
filters, a repeated activity, the time to convert, bad steps, saving and the page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client

from cdp_project.access.actors import Actor
from cdp_project.access.models import AuditEntry
from cdp_project.analytics.funnels import StepInput, custom_funnel_compute, steps_parse
from cdp_project.analytics.models import SavedFunnel
from cdp_project.analytics.services import funnel_save
from segments.definition import DefinitionError
from tests.analytics.conftest import NOW

pytestmark = pytest.mark.django_db

DAY = NOW - timedelta(days=1, hours=12)


def compute(*steps: StepInput, days: int = 2):
    nodes, _stored = steps_parse(list(steps))
    return custom_funnel_compute(
        steps=nodes, labels=[s.activity for s in steps], start=NOW - timedelta(days=days), end=NOW
    )


def people(funnel) -> list[int]:
    return [step.people for step in funnel.steps]


def test_each_step_must_come_after_the_one_before(store):
    # Viewed then added: Ada (10:30, 10:40) and Bob (9 Jun 09:15, 09:20); Dee added at 07:00
    # *before* viewing at 07:30, so she is not at step 2.
    funnel = compute(StepInput("track:Product Viewed"), StepInput("track:Product Added"))
    assert people(funnel) == [4, 2]  # Ada, Bob, Cy, Dee viewed
    # Added then viewed: only Dee.
    funnel = compute(StepInput("track:Product Added"), StepInput("track:Product Viewed"))
    assert people(funnel) == [3, 1]


def test_time_to_convert_is_the_median_from_the_step_before(store):
    funnel = compute(
        StepInput("track:Product Viewed"),
        StepInput("track:Product Added"),
        StepInput("track:Order Completed"),
    )
    # Ada viewed 10:30, added 10:40, ordered 11:00; Bob viewed 9 Jun 09:15, added 09:20,
    # ordered 10 Jun 08:10.
    assert people(funnel) == [4, 2, 2]
    viewed, added, ordered = funnel.steps
    assert viewed.median_seconds is None
    assert added.median_seconds == (10 * 60 + 5 * 60) / 2
    assert ordered.median_seconds == (20 * 60 + (22 * 60 + 50) * 60) / 2
    assert added.conversion == 0.5 and ordered.of_first == 0.5


def test_a_step_may_filter_on_a_property_and_repeat_an_activity(store):
    funnel = compute(
        StepInput("track:Product Viewed", "sku", "equals", "SKU-1"),
        StepInput("track:Order Completed", "total", "gte", "50"),
    )
    # SKU-1 was viewed by Ada and Bob, who then ordered 100 and 50.
    assert people(funnel) == [2, 2]
    # The same activity twice needs two events in order: nobody viewed twice.
    funnel = compute(StepInput("track:Product Viewed"), StepInput("track:Product Viewed"))
    assert people(funnel) == [4, 0]


def test_steps_that_do_not_check_say_why(store):
    with pytest.raises(DefinitionError) as error:
        steps_parse([StepInput("track:Product Viewed")])
    assert "2 to 8 steps" in error.value.errors[0]
    with pytest.raises(DefinitionError) as error:
        steps_parse([StepInput("track:Product Viewed")] * 9)
    assert "this one has 9" in error.value.errors[0]
    with pytest.raises(DefinitionError) as error:
        steps_parse(
            [
                StepInput("track:Product Viewed"),
                StepInput("track:Order Completed", "total", "gte", "lots"),
            ]
        )
    assert [m for m in error.value.errors if m.startswith("Step 2")], error.value.errors


def test_saving_a_funnel_writes_the_audit_log_and_a_same_name_updates_it(store):
    _nodes, stored = steps_parse(
        [StepInput("track:Product Viewed"), StepInput("track:Product Added")]
    )
    actor = Actor.system("test")
    saved = funnel_save(actor=actor, name="View to cart", steps=stored)
    assert saved.steps[0]["activity"] == {"kind": "track", "name": "Product Viewed"}
    again = funnel_save(actor=actor, name="View to cart", steps=stored[::-1])
    assert again.pk == saved.pk and SavedFunnel.objects.count() == 1
    assert list(
        AuditEntry.objects.filter(action="funnel.save")
        .order_by("pk")
        .values_list("summary", flat=True)
    ) == [
        "Saved funnel “View to cart”: 2 steps",
        "Updated funnel “View to cart”: 2 steps",
    ]


@pytest.fixture
def marketer(django_user_model, client: Client) -> Client:
    client.force_login(django_user_model.objects.create_user("marketer", "m@example.com", "pw-1"))
    return client


def test_the_page_counts_chosen_steps_saves_and_reopens_them(store, marketer):
    query = {
        "days": "7",
        "s0": "track:Product Viewed",
        "s1": "track:Product Added",
        "s2": "track:Order Completed",
        "s2_path": "total",
        "s2_op": "gte",
        "s2_value": "50",
    }
    html = marketer.get("/analytics/funnel/", query).content.decode()
    table = html[html.index('id="funnel-steps"') :]
    assert re.findall(r'<td class="num people">(\d+)</td>', table) == ["4", "2", "2"]
    assert "Order Completed, where total ≥ 50" in table
    assert re.search(r'<td class="num time-to-convert">7 min</td>', table)  # 7.5 min
    assert re.search(r'<td class="num time-to-convert">11 h 35 min</td>', table)
    assert 'id="s3"' in html  # one empty row to add a step
    # The fragment htmx asks for on a change.
    fragment = marketer.get(
        "/analytics/funnel/", query, headers={"HX-Request": "true", "HX-Target": "funnel-results"}
    )
    assert fragment.content.decode().lstrip().startswith('<div id="funnel-results"')

    response = marketer.post("/analytics/funnel/save/", {**query, "name": "Big orders"})
    saved = SavedFunnel.objects.get(name="Big orders")
    assert response["Location"] == f"/analytics/funnel/?funnel={saved.pk}"
    html = marketer.get(response["Location"]).content.decode()
    assert 'aria-current="page">Big orders</a>' in html
    assert re.findall(
        r'<td class="num people">(\d+)</td>', html[html.index('id="funnel-steps"') :]
    ) == ["4", "2", "2"]  # the same steps, over the last 30 days
    assert '<option value="track:Order Completed" selected>' in html


def test_the_page_says_what_is_wrong_with_the_steps(store, marketer):
    html = marketer.get("/analytics/funnel/", {"s0": "track:Product Viewed"}).content.decode()
    assert 'id="funnel-errors"' in html and "2 to 8 steps" in html
    assert 'id="funnel-steps"' not in html
    # Nothing saved without a name or with bad steps.
    marketer.post("/analytics/funnel/save/", {"s0": "track:Product Viewed", "name": "x"})
    marketer.post(
        "/analytics/funnel/save/", {"s0": "track:Product Viewed", "s1": "track:Product Added"}
    )
    assert not SavedFunnel.objects.exists()
