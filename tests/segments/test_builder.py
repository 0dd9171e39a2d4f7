"""The segment builder: the tree as a form and back, structure changes, the live preview,
"why is this person in or out?", saving, reopening, duplicating and deleting.

Uses the hand-made store of tests/segments/conftest.py (who is who is in its docstring)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.http import QueryDict
from django.urls import reverse

from cdp_project.access.actors import Actor
from ingestion.models import ActivityProperty, ProfileAttribute
from profiles.models import Profile
from segments import builder, services
from segments.definition import DefinitionError, definition_clean
from segments.models import Segment
from tests.segments.conftest import (
    between,
    computed,
    consent,
    did,
    group,
    in_segment,
    last,
    lifecycle,
    negated,
    role,
    trait,
    where,
)

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


@pytest.fixture
def signed_in(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("marketer", "m@example.com", "pw"))
    return client


class FormData(QueryDict):
    """A form as a browser sends it: the test client posts each value of a field that has
    several (a QueryDict's items() would give only the last)."""

    def items(self):
        yield from self.lists()


def form_data(tree: dict, **extra: str) -> QueryDict:
    data = FormData(mutable=True)
    for name, value in builder.tree_form_data(tree):
        data.appendlist(name, value)
    for name, value in extra.items():
        data[name] = value
    return data


class _FormFields(HTMLParser):
    """What a browser would send for one form of a page: text, number, date and hidden
    inputs, checked checkboxes, the selected option of each select, textareas."""

    def __init__(self, form_id: str) -> None:
        super().__init__()
        self.form_id = form_id
        self.inside = False
        self.pairs: list[tuple[str, str]] = []
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.inside = attrs.get("id") == self.form_id
            return
        if not self.inside:
            return
        if tag == "input" and attrs.get("name"):
            kind = attrs.get("type", "text")
            if kind in ("submit", "button") or attrs.get("disabled") is not None:
                return
            if kind == "checkbox" and "checked" not in attrs:
                return
            self.pairs.append((attrs["name"], attrs.get("value") or ""))
        elif tag == "select":
            self._select, self._options = attrs.get("name"), []
        elif tag == "option" and self._select is not None:
            self._options.append((attrs.get("value", ""), "selected" in attrs))
        elif tag == "textarea":
            self._textarea, self._text = attrs.get("name"), ""

    def handle_data(self, data):
        if self._textarea is not None:
            self._text += data

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select" and self._select is not None:
            chosen = [value for value, selected in self._options if selected]
            if chosen or self._options:
                self.pairs.append((self._select, (chosen or [self._options[0][0]])[0]))
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self.pairs.append((self._textarea, self._text.strip()))
            self._textarea = None


def posted_fields(html: str, form_id: str = "segment-form") -> QueryDict:
    parser = _FormFields(form_id)
    # The builder fragment comes without its form: read it as if it were inside one.
    parser.feed(html if "<form" in html else f'<form id="{form_id}">{html}</form>')
    data = FormData(mutable=True)
    for name, value in parser.pairs:
        data.appendlist(name, value)
    return data


def every_kind(store) -> dict:
    """A definition with every kind of node, nested groups, negation and values."""
    return group(
        did(
            "Product Added",
            count=("at_least", 2),
            window=last(7),
            filters=[
                where("category", "one_of", ["Shoes", "Bags"]),
                where("price", "between", 10, 99.5),
            ],
            sources=[store.web.pk],
        ),
        did(
            role("order_completed"),
            count=("exactly", 0),
            window=between("2026-01-01", "2026-02-01"),
            filters=[where("products[].category", "equals", "Shoes"), where("gift", "is_false")],
        ),
        negated(did("Logged In", window=last(48, "hours"), filters=[where("method", "is_set")])),
        group(
            computed("orders_count", "gte", 2),
            computed("preferred_categories", "one_of", ["Shoes"]),
            trait("plan", "equals", "Gold"),
            trait("signed_up_at", "in_last_days", 30),
            trait("vip", "is_true"),
            negated(trait("age", "between", 30, 50)),
            match="any",
            negate=True,
        ),
        lifecycle("first_time", "Order Completed", window=between("2026-01-01", "2026-03-01")),
        lifecycle("stopped", "Logged In", window=last(30)),
        in_segment(store.segments["gold"].pk),
        consent("email", "granted"),
        consent("sms", "unknown", negate=True),
        group(computed("last_seen", "after", "2026-01-02"), match="all"),
    )


# --- the tree as a form, and back --------------------------------------------------------------


def test_every_kind_of_condition_survives_the_form_round_trip(store):
    clean = definition_clean(every_kind(store))
    read = builder.tree_from_form(form_data(clean))
    assert definition_clean(read) == clean
    assert builder.tree_form_data(read) == builder.tree_form_data(clean)


@pytest.mark.parametrize(
    "node",
    [
        computed("revenue", "lt", 100),
        trait("address.city", "starts_with", "Ly"),
        did("Product Viewed", window={"type": "ever"}, filters=[where("price", "gt", 50)]),
        lifecycle("stopped", role("product_added"), window=last(2, "weeks")),
        consent("sms", "withdrawn"),
    ],
    ids=["computed", "trait", "behaviour", "lifecycle", "consent"],
)
def test_each_kind_round_trips_alone_and_negated(store, node):
    for tree in (group(node), group(negated(node), match="any", negate=True)):
        clean = definition_clean(tree)
        assert definition_clean(builder.tree_from_form(form_data(clean))) == clean


def test_reading_a_half_filled_form_never_fails():
    data = QueryDict(
        "n.0:kind=behaviour&n.0:count_value=abc&n.0:where.0:path=&n.3.1:kind=nonsense"
        "&n.7:kind=segment&n.7:segment=x&unrelated=1&n.0:sources=zz&n.99999:kind=group"
    )
    tree = builder.tree_from_form(data)
    assert [c["kind"] for c in tree["conditions"]] == ["behaviour", "group", "segment"]
    assert tree["conditions"][0]["count"]["value"] == "abc"
    assert tree["conditions"][0]["sources"] == []
    # The missing group 3 is filled in around its condition.
    assert tree["conditions"][1]["conditions"][0]["kind"] == "behaviour"
    with pytest.raises(DefinitionError):
        definition_clean(tree)


# --- structure changes -------------------------------------------------------------------------


def builder_post(client, tree: dict, action: str = "", **extra: str):
    data = form_data(tree, **extra)
    if action:
        data["action"] = action
    return client.post(reverse("segment-builder"), data, headers=HTMX)


def test_adding_and_removing_conditions_redraws_the_tree(signed_in, store):
    response = builder_post(signed_in, group(), "add:n:behaviour")
    assert response.status_code == 200
    assert response["HX-Trigger-After-Settle"] == "segment-changed"
    tree = builder.tree_from_form(posted_fields(response.content.decode()))
    assert [c["kind"] for c in tree["conditions"]] == ["behaviour"]

    response = builder_post(signed_in, tree, "add:n:group")
    tree = builder.tree_from_form(posted_fields(response.content.decode()))
    assert [c["kind"] for c in tree["conditions"]] == ["behaviour", "group"]
    assert tree["conditions"][1]["match"] == "any"
    assert len(tree["conditions"][1]["conditions"]) == 1  # a new group is never empty

    response = builder_post(signed_in, tree, "add:n.1:attribute")
    tree = builder.tree_from_form(posted_fields(response.content.decode()))
    assert [c["kind"] for c in tree["conditions"][1]["conditions"]] == ["behaviour", "attribute"]

    response = builder_post(signed_in, tree, "remove:n.0")
    tree = builder.tree_from_form(posted_fields(response.content.decode()))
    assert [c["kind"] for c in tree["conditions"]] == ["group"]

    # A stale or crafted action changes nothing and fails nothing.
    for action in ("remove:n", "remove:n.5", "add:n.0.0.0:group", "bogus", "add:x:group"):
        assert builder_post(signed_in, tree, action).status_code == 200


def test_property_filters_are_added_and_removed(signed_in, store):
    tree = group(did("Product Viewed", window=last(7)))
    response = builder_post(signed_in, tree, "add_filter:n.0")
    html = response.content.decode()
    assert 'value="products[].category"' not in html  # Product Viewed has flat properties
    assert 'value="category"' in html
    tree = builder.tree_from_form(posted_fields(html))
    assert tree["conditions"][0]["where"] == [{"path": "", "operator": "equals", "value": ""}]
    response = builder_post(signed_in, tree, "remove_filter:n.0:0")
    tree = builder.tree_from_form(posted_fields(response.content.decode()))
    assert tree["conditions"][0]["where"] == []


def test_choosing_a_field_offers_the_operators_and_input_of_its_type(signed_in, store):
    # A number operator left over on a string field becomes the string type's first one.
    tree = group(computed("email", "gte", "1"))
    html = builder_post(signed_in, tree).content.decode()
    assert '<option value="contains"' in html and '<option value="gte"' not in html
    tree = builder.tree_from_form(posted_fields(html))
    assert tree["conditions"][0]["operator"] == "equals"

    html = builder_post(signed_in, group(computed("revenue", "between", 1, 2))).content.decode()
    assert 'type="number"' in html and 'name="n.0:value2"' in html
    html = builder_post(signed_in, group(computed("last_seen", "before", ""))).content.decode()
    assert 'type="date" name="n.0:value"' in html
    # Example values from the catalog are offered for text fields.
    html = builder_post(signed_in, group(trait("plan", "equals", ""))).content.decode()
    assert "<datalist" in html and 'value="Silver"' in html


def test_activity_pickers_come_from_the_catalog(signed_in, store):
    from ingestion.models import Activity

    Activity.objects.filter(name="Newsletter Opened").update(status=Activity.Status.HIDDEN)
    tree = group(did(role("product_added"), filters=[where("", "equals", "")]))
    html = builder_post(signed_in, tree).content.decode()
    assert 'value="track:Product Added"' in html
    assert 'value="track:Newsletter Opened"' not in html  # hidden
    assert 'value="role:product_added" selected' in html
    assert "Any activity with role" in html
    # The role's activities' properties, array items included.
    assert 'value="products[].category"' not in html
    assert 'value="category"' in html and 'value="quantity"' in html
    # A condition naming an activity no longer offered keeps it, marked.
    html = builder_post(signed_in, group(did("Newsletter Opened"))).content.decode()
    assert "hidden or not in the catalog" in html


def test_pickers_type_fields_as_definition_clean_does(store):
    from ingestion.models import Activity, ProfileAttribute
    from segments.definition import field_type, property_type

    catalog = builder.BuilderCatalog()
    selectors = [{"kind": a.kind, "name": a.name} for a in Activity.objects.all()]
    selectors += [role("product_added"), role("order_completed")]
    for selector in selectors:
        for path, info in catalog.properties(selector).items():
            assert info.type == property_type(selector, path), (selector, path)
    for attribute in ProfileAttribute.objects.all():
        info = catalog.attribute("trait", attribute.path)
        assert info.type == field_type("trait", attribute.path), attribute.path
    assert catalog.attribute("trait", "customer_code").type == "string"  # pinned


# --- the preview -------------------------------------------------------------------------------


def preview(client, tree: dict, **extra: str):
    return client.post(reverse("segment-preview"), form_data(tree, **extra), headers=HTMX)


def test_preview_counts_the_people_the_tree_selects(signed_in, store):
    tree = group(
        did(role("product_added"), window=last(7)),
        group(
            computed("orders_count", "gte", 1),
            did("Product Viewed", filters=[where("category", "equals", "shoes")]),
            match="any",
        ),
    )
    expected = store.members(tree)
    assert expected == {"Ada"}
    response = preview(signed_in, tree)
    assert response.status_code == 200
    html = response.content.decode()
    assert '<span id="preview-count">1</span>' in html
    assert reverse("profile-detail", args=[store.people["Ada"]]) in html
    assert "People who" in html

    everyone = preview(signed_in, group()).content.decode()
    assert f'<span id="preview-count">{len(store.people)}</span>' in everyone


def test_preview_counts_who_email_can_reach(signed_in, store):
    everyone = Profile.objects.filter(pk__in=store.people.values())
    everyone.update(email_consent="unknown")
    ada = Profile.objects.get(pk=store.people["Ada"])
    Profile.objects.filter(pk=ada.pk).update(email_consent="granted")
    # Consent without an address reaches nobody.
    no_address = everyone.exclude(pk=ada.pk).filter(email="").first()
    assert ada.email and no_address is not None
    Profile.objects.filter(pk=no_address.pk).update(email_consent="granted")
    html = preview(signed_in, group()).content.decode()
    assert f'<span id="preview-count">{len(store.people)}</span>' in html
    assert '<strong id="preview-email-reach">1</strong> of them can be reached by email' in html
    html = preview(signed_in, group(computed("orders_count", "gte", 99))).content.decode()
    assert '<strong id="preview-email-reach">0</strong>' in html


def test_is_one_of_values_are_chips_that_may_hold_a_comma(signed_in, store):
    tree = group(
        did("Product Viewed", filters=[where("category", "one_of", ["Shoes, boots", "Bags"])])
    )
    data = form_data(tree)
    assert data.getlist("n.0:where.0:value_item") == ["Shoes, boots", "Bags"]
    assert builder.tree_from_form(data)["conditions"][0]["where"][0]["value"] == [
        "Shoes, boots",
        "Bags",
    ]
    # What is typed in the box adds to the chips, comma-separated, each value once.
    data["n.0:where.0:value"] = "Hats, Bags,  Socks "
    read = builder.tree_from_form(data)["conditions"][0]["where"][0]["value"]
    assert read == ["Shoes, boots", "Bags", "Hats", "Socks"]
    # Redrawn, each value is a chip (a ticked box without JavaScript) and the box is empty;
    # the box suggests the catalog's values not chosen yet.
    html = signed_in.post(
        reverse("segment-builder"), form_data(tree), headers=HTMX
    ).content.decode()
    chips = html[
        html.index('id="n-0-where-0-chosen"') : html.index(
            "</ul>", html.index('id="n-0-where-0-chosen"')
        )
    ]
    assert re.findall(r'name="n.0:where.0:value_item" value="([^"]*)" checked', chips) == [
        "Shoes, boots",
        "Bags",
    ]
    assert re.search(
        r'<input type="text" name="n.0:where.0:value" id="n-0-where-0-value" value=""', html
    )
    suggested = datalist(html, "n-0-where-0")
    assert suggested and "Bags" not in suggested
    # A value typed before "is one of" was chosen becomes chips too.
    data = form_data(group(trait("plan", "equals", "Gold, Silver")))
    data["n.0:operator"] = "one_of"
    html = signed_in.post(reverse("segment-builder"), data, headers=HTMX).content.decode()
    assert re.findall(r'name="n.0:value_item" value="([^"]*)" checked', html) == ["Gold", "Silver"]


def test_preview_of_an_array_item_filter(signed_in, store):
    tree = group(did("Order Completed", filters=[where("products[].category", "equals", "Shoes")]))
    html = preview(signed_in, tree).content.decode()
    count = len(store.members(tree))
    assert count >= 2
    assert f'<span id="preview-count">{count}</span>' in html


def test_an_incomplete_tree_previews_its_problems_not_a_500(signed_in, store):
    incomplete = [
        group(did({})),
        group(computed("revenue", "gt", "lots")),
        group(group(match="any")),
        group(trait("no.such.trait", "equals", "x")),
        group(in_segment(999_999)),
    ]
    for tree in incomplete:
        response = preview(signed_in, tree)
        assert response.status_code == 200
        assert "Not counted yet" in response.content.decode()
    for nul in (
        {"n.0:kind": "attribute", "n.0:field": "trait:pl\x00an", "n.0:operator": "is_set"},
        {"n.0:kind": "behaviour", "n.0:activity": "track:Product\x00 Added"},
        {"n.0:kind": "behaviour", "n.0:activity": "track:Logged In", "n.0:where.0:path": "\x00"},
    ):
        for name in ("segment-preview", "segment-builder", "segment-new"):
            assert signed_in.post(reverse(name), nul).status_code in (200, 400)


def test_a_segment_cannot_preview_containing_itself(signed_in, store):
    gold = store.segments["gold"]
    tree = group(in_segment(store.segments["gold_in_lyon"].pk))
    html = preview(signed_in, tree, segment_id=str(gold.pk)).content.decode()
    assert "cannot contain itself" in html


# --- why is this person in or out --------------------------------------------------------------


def test_explain_marks_each_condition_for_one_profile(signed_in, store):
    tree = group(trait("plan", "equals", "gold"), computed("orders_count", "gte", 5))
    data = form_data(tree, **{"explain-profile": "ada@example.com"})
    html = signed_in.post(reverse("segment-explain"), data, headers=HTMX).content.decode()
    assert "Not in the segment" in html
    assert html.count('class="met"') == 1 and html.count('class="unmet"') == 2

    data = form_data(tree, **{"explain-profile": "#999999"})
    html = signed_in.post(reverse("segment-explain"), data, headers=HTMX).content.decode()
    assert "No profile matches" in html
    data = form_data(group(did({})), **{"explain-profile": "ada@example.com"})
    html = signed_in.post(reverse("segment-explain"), data, headers=HTMX).content.decode()
    assert "Finish the conditions first" in html


def test_explain_picks_the_profile_with_the_campaign_preview_picker(signed_in, store):
    tree = group(trait("plan", "equals", "gold"))
    for search, said in (
        ("", "Enter an email, a user id, a name or a profile number (#42)."),
        ("a" * 321, "That is too long to be an email or an id."),
        ("ada@exam\x00ple.com", "In the segment"),
    ):
        data = form_data(tree, **{"explain-profile": search})
        html = signed_in.post(reverse("segment-explain"), data, headers=HTMX).content.decode()
        assert said in html


# --- save, reopen, duplicate, delete -----------------------------------------------------------


def test_saving_a_new_segment_and_reopening_it_shows_the_tree_intact(signed_in, store):
    tree = every_kind(store)
    data = form_data(tree, name="  Everything  ", description="All the kinds", action="save")
    response = signed_in.post(reverse("segment-new"), data)
    segment = Segment.objects.get(name="Everything")
    assert response.status_code == 302
    assert response["Location"] == reverse("segment-detail", args=[segment.pk])
    assert segment.definition == definition_clean(tree)
    assert segment.sentence.startswith("People who")
    assert segment.description == "All the kinds"

    page = signed_in.get(reverse("segment-edit", args=[segment.pk]))
    assert page.status_code == 200
    fields = posted_fields(page.content.decode())
    assert fields["name"] == "Everything"
    # What the page shows is what is saved: sending it unchanged saves the same tree.
    assert definition_clean(builder.tree_from_form(fields)) == segment.definition
    response = signed_in.post(reverse("segment-edit", args=[segment.pk]), fields)
    assert response.status_code == 302
    segment.refresh_from_db()
    assert segment.definition == definition_clean(tree)


def test_saving_a_small_segment_counts_its_members_before_its_page_opens(signed_in, store):
    data = form_data(group(computed("orders_count", "gte", 1)), name="Buyers", action="save")
    response = signed_in.post(reverse("segment-new"), data)
    segment = Segment.objects.get(name="Buyers")
    assert response["Location"] == reverse("segment-detail", args=[segment.pk])
    expected = Profile.objects.filter(orders_count__gte=1).count()
    assert expected and segment.size == expected and segment.refreshed_at is not None
    page = signed_in.get(response["Location"]).content.decode()
    assert "Not refreshed yet" not in page and "Counting the members" not in page
    assert f"saved: {expected} " in page and 'hx-trigger="every 2s"' not in page

    # Edited, it is counted again at once.
    data = form_data(group(computed("orders_count", "gte", 99)), name="Buyers", action="save")
    signed_in.post(reverse("segment-edit", args=[segment.pk]), data)
    segment.refresh_from_db()
    assert segment.size == 0


def test_saving_a_big_segment_leaves_the_count_to_the_worker(signed_in, store, settings):
    settings.SEGMENTS_INLINE_REFRESH_MAX = 0
    data = form_data(group(computed("orders_count", "gte", 1)), name="Buyers", action="save")
    response = signed_in.post(reverse("segment-new"), data)
    segment = Segment.objects.get(name="Buyers")
    assert response["Location"] == reverse("segment-detail", args=[segment.pk]) + "?refreshing=1"
    assert segment.size is None
    page = signed_in.get(response["Location"]).content.decode()
    assert "Counting the members" in page and "Not refreshed yet" not in page
    assert 'hx-trigger="every 2s"' in page  # the page follows the queued refresh


def test_saving_an_invalid_tree_answers_400_with_the_tree_intact(signed_in, store):
    tree = group(trait("plan", "equals", "Gold"), did({}, window=last(3)))
    data = form_data(tree, name="Broken", action="save")
    response = signed_in.post(reverse("segment-new"), data)
    assert response.status_code == 400
    html = response.content.decode()
    assert "The segment was not saved" in html and "choose an activity" in html
    assert not Segment.objects.filter(name="Broken").exists()
    again = builder.tree_from_form(posted_fields(html))
    assert again["conditions"][0] == trait("plan", "equals", "Gold")
    assert again["conditions"][1]["window"] == {"type": "last", "amount": 3, "unit": "days"}

    nameless = signed_in.post(reverse("segment-new"), form_data(group(did({})), name=" "))
    assert nameless.status_code == 400
    # Both problems at once, not one save attempt each.
    assert "Give the segment a name" in nameless.content.decode()
    assert "choose an activity" in nameless.content.decode()


def test_editing_a_segment_to_contain_itself_is_refused(signed_in, store):
    gold = store.segments["gold"]
    tree = group(in_segment(store.segments["gold_in_lyon"].pk))
    response = signed_in.post(
        reverse("segment-edit", args=[gold.pk]), form_data(tree, name="Gold plan")
    )
    assert response.status_code == 400
    assert "cannot contain itself" in response.content.decode()


def test_structure_change_without_javascript_redraws_the_page(signed_in, store):
    data = form_data(group(), name="Draft", action="add:n:consent")
    response = signed_in.post(reverse("segment-new"), data)
    assert response.status_code == 200
    tree = builder.tree_from_form(posted_fields(response.content.decode()))
    assert tree["conditions"][0]["kind"] == "consent"
    assert not Segment.objects.filter(name="Draft").exists()


def test_the_builder_pages_need_a_login(client, store):
    gold = store.segments["gold"]
    for url in (reverse("segment-new"), reverse("segment-edit", args=[gold.pk])):
        assert client.get(url).status_code == 302
    for name in ("segment-builder", "segment-preview", "segment-explain"):
        assert client.post(reverse(name), {}).status_code == 302
    assert client.post(reverse("segment-delete", args=[gold.pk])).status_code == 302
    assert Segment.objects.filter(pk=gold.pk).exists()


def test_duplicate_makes_a_copy_and_opens_it(signed_in, store):
    gold = store.segments["gold"]
    response = signed_in.post(reverse("segment-duplicate", args=[gold.pk]))
    copy = Segment.objects.get(name="Copy of Gold plan")
    assert response.status_code == 302
    assert response["Location"] == reverse("segment-edit", args=[copy.pk])
    assert copy.definition == gold.definition and copy.pk != gold.pk
    assert copy.sentence
    assert signed_in.get(reverse("segment-duplicate", args=[gold.pk])).status_code == 405


def test_a_segment_other_segments_use_cannot_be_deleted(signed_in, store):
    gold, both = store.segments["gold"], store.segments["gold_in_lyon"]
    confirm = signed_in.get(reverse("segment-delete", args=[gold.pk]))
    assert confirm.status_code == 200
    assert "cannot be deleted" in confirm.content.decode()
    assert "Gold in Lyon" in confirm.content.decode()

    refused = signed_in.post(reverse("segment-delete", args=[gold.pk]))
    assert refused.status_code == 400
    assert "Gold in Lyon" in refused.content.decode()
    assert Segment.objects.filter(pk=gold.pk).exists()
    with pytest.raises(services.SegmentInUse) as error:
        services.segment_delete(actor=Actor.system("test"), segment=gold)
    assert [s.pk for s in error.value.segments] == [both.pk]

    confirm = signed_in.get(reverse("segment-delete", args=[both.pk]))
    assert "Delete segment" in confirm.content.decode()
    deleted = signed_in.post(reverse("segment-delete", args=[both.pk]))
    assert deleted.status_code == 302 and deleted["Location"] == reverse("segments")
    assert not Segment.objects.filter(pk=both.pk).exists()
    # Nothing names Gold plan any more.
    signed_in.post(reverse("segment-delete", args=[gold.pk]))
    assert not Segment.objects.filter(pk=gold.pk).exists()


def test_services_store_the_clean_definition_and_its_sentence(store, django_user_model):
    user = django_user_model.objects.create_user("owner")
    segment = services.segment_create(
        actor=Actor.for_user(user),
        name="Shoe buyers",
        definition=group(did("Order Completed", count=("at_least", "2"), window=last("30"))),
    )
    assert segment.definition["conditions"][0]["count"]["value"] == 2
    assert segment.sentence.startswith("People who") and "Order Completed" in segment.sentence
    before = segment.updated_at
    updated = services.segment_update(
        actor=Actor.system("test"),
        segment=segment,
        name="Shoe buyers",
        definition=group(consent("email", "granted")),
    )
    assert updated.updated_at > before
    assert "email" in updated.sentence
    with pytest.raises(DefinitionError):
        services.segment_update(
            actor=Actor.system("test"), segment=segment, name="x", definition={"kind": "attribute"}
        )
    segment.refresh_from_db()
    assert segment.definition["conditions"][0]["kind"] == "consent"


def test_builder_posts_need_the_csrf_token(store, django_user_model):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(django_user_model.objects.create_user("careful"))
    page = client.get(reverse("segment-new"))
    assert 'name="csrfmiddlewaretoken"' in page.content.decode()
    assert "X-CSRFToken" in page.content.decode()  # htmx sends it on every request
    for name in ("segment-builder", "segment-preview", "segment-explain", "segment-new"):
        assert client.post(reverse(name), form_data(group(), name="x")).status_code == 403
    gold = store.segments["gold_in_lyon"]
    assert client.post(reverse("segment-delete", args=[gold.pk])).status_code == 403
    assert Segment.objects.filter(pk=gold.pk).exists()


# --- numbers typed in other scripts ------------------------------------------------------------


# Superscript two, circled one, Arabic-Indic three, fullwidth one.
@pytest.mark.parametrize("digit", ["\u00b2", "\u2460", "\u0663", "\uff11"])
def test_digits_that_are_not_ascii_are_refused_not_a_500(signed_in, store, digit):
    """`"²".isdigit()` is true but `int("²")` fails: whole numbers read only 0-9."""
    fields = {
        "n.0:kind": ["behaviour"],
        "n.0:activity": ["track:Logged In"],
        "n.0:count_operator": ["at_least"],
        "n.0:count_value": [digit],
        "n.0:window_type": ["last"],
        "n.0:window_amount": [digit],
        "n.0:window_unit": ["days"],
        "n.0:sources": [digit, str(store.web.pk)],
        "n.1:kind": ["segment"],
        "n.1:segment": [digit],
        "segment_id": [digit],
        "name": ["Digits"],
    }
    data = QueryDict(mutable=True)
    for name, values in fields.items():
        data.setlist(name, values)
    tree = builder.tree_from_form(data)
    assert tree["conditions"][0]["sources"] == [store.web.pk]
    assert tree["conditions"][1]["segment"] is None
    for name in ("segment-preview", "segment-builder", "segment-new", "segment-explain"):
        assert signed_in.post(reverse(name), data, headers=HTMX).status_code in (200, 400)
    data["action"] = f"remove_filter:n.0:{digit}"
    assert signed_in.post(reverse("segment-builder"), data, headers=HTMX).status_code == 200
    assert signed_in.post(reverse("segment-new"), data).status_code == 200


def test_preview_says_when_counting_took_too_long(signed_in, store, settings, monkeypatch):
    from django.db import connection

    def slow_count(tree):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_sleep(2)")
        return Profile.objects.none()

    monkeypatch.setattr("segments.builder_views.segment_profiles", slow_count)
    settings.SEGMENTS_PREVIEW_TIMEOUT_SECONDS = 0.05
    html = preview(signed_in, group(computed("orders_count", "gte", 1))).content.decode()
    assert "Counting took too long, so the preview stopped" in html
    assert "could not be counted" not in html


# --- value suggestions and drifted types -------------------------------------------------------


def datalist(html: str, input_id: str) -> list[str]:
    """The values a text input suggests (its datalist's options)."""
    found = re.search(rf'<datalist id="{input_id}-examples">(.*?)</datalist>', html, re.S)
    return re.findall(r'<option value="([^"]*)">', found.group(1)) if found else []


def test_text_fields_suggest_recent_values_beyond_the_catalogs_examples(signed_in, store):
    # The catalog keeps a few examples per field; here it kept none at all.
    ActivityProperty.objects.update(examples=[])
    ProfileAttribute.objects.update(examples=[])
    tree = group(
        did("Product Viewed", filters=[where("category", "equals", "")]),
        did("Order Completed", filters=[where("products[].category", "one_of", [])]),
        trait("plan", "equals", ""),
        trait("tags[]", "equals", ""),
    )
    html = builder_post(signed_in, tree).content.decode()
    assert set(datalist(html, "n-0-where-0")) == {"Shoes", "Bags", "Hats", "Socks"}
    # Most common first; through an array, each item's value.
    assert datalist(html, "n-0-where-0")[0] == "Shoes"
    assert set(datalist(html, "n-1-where-0")) == {"Shoes", "shoes", "Bags", "Hats"}
    assert set(datalist(html, "n-2")) == {"Gold", "gold", "Rose Gold", "Silver"}
    assert set(datalist(html, "n-3")) == {"vip", "newsletter", "VIP"}


def test_suggestions_merge_the_catalog_and_skip_personal_fields(signed_in, store):
    ActivityProperty.objects.filter(path="category").update(examples=["Running shoes"])
    ProfileAttribute.objects.filter(path="plan").update(personal=True)
    tree = group(
        did("Product Viewed", filters=[where("category", "equals", "")]),
        trait("plan", "equals", ""),
        trait("email", "equals", ""),
    )
    html = builder_post(signed_in, tree).content.decode()
    suggested = datalist(html, "n-0-where-0")
    assert "Running shoes" in suggested and "Shoes" in suggested
    assert len(suggested) == len(set(suggested))
    assert datalist(html, "n-1") == []  # marked personal
    assert "example.com" not in "".join(datalist(html, "n-2"))


def test_values_are_read_only_for_the_text_fields_chosen(signed_in, store, monkeypatch):
    from segments import selectors

    asked: list[str] = []
    real_property, real_trait = selectors.recent_property_values, selectors.recent_trait_values

    def property_values(*, selector, path):
        asked.append(path)
        return real_property(selector=selector, path=path)

    def trait_values(*, path):
        asked.append(path)
        return real_trait(path=path)

    monkeypatch.setattr(selectors, "recent_property_values", property_values)
    monkeypatch.setattr(selectors, "recent_trait_values", trait_values)
    tree = group(
        did("Product Viewed", filters=[where("price", "gt", 10), where("category", "equals", "")]),
        did("Product Viewed", filters=[where("category", "contains", "")]),
        trait("age", "gt", 1),
        trait("plan", "is_set"),
        computed("email", "equals", ""),
    )
    assert builder_post(signed_in, tree).status_code == 200
    # Numbers, operators without a value and computed attributes read nothing; a field
    # chosen twice is read once.
    assert asked == ["category"]


def test_a_field_seen_with_several_types_says_which_values_are_compared(signed_in, store):
    tree = group(
        did("Product Viewed", filters=[where("price", "gt", 10), where("category", "is_set")]),
        trait("age", "gt", 30),
    )
    html = builder_post(signed_in, tree).content.decode()
    note = re.search(r'<small class="drift-note" id="n-0-where-0-drift">([^<]*)</small>', html)
    assert note, html
    assert note.group(1).startswith("Also seen as text in 2 of 6 events; only numbers are")
    assert 'id="n-0-where-1-drift"' not in html  # every category was text
    note = re.search(r'<small class="drift-note" id="n-1-drift">([^<]*)</small>', html)
    assert note and "Also seen as text in 1 of 6 identify calls" in note.group(1)


# --- what decided each condition -----------------------------------------------------------------


def details(store, name: str, *conditions: dict) -> list[str]:
    from segments.explain import explain

    explained = explain(definition_clean(group(*conditions)), store.profile(name), now=store.now)
    return [child.detail for child in explained.children]


def shown(store, days: float) -> str:
    from django.utils import timezone

    return timezone.localtime(store.ago(days=days)).strftime("%Y-%m-%d %H:%M")


def test_behaviour_detail_counts_the_window_and_names_its_first_and_last_event(store):
    assert details(store, "Ada", did("Product Viewed", window=last(7))) == [
        f"2 matching events in the last 7 days, the first on {shown(store, 2)}, "
        f"the last on {shown(store, 1)}"
    ]
    assert details(store, "Ada", did("Product Viewed", window=last(36, "hours"))) == [
        f"1 matching event in the last 36 hours, on {shown(store, 1)}"
    ]
    # None in the window: the latest one outside it, never a "first" from all time.
    assert details(store, "Ada", did("Logged In", window=last(3))) == [
        f"0 matching events in the last 3 days; the last one on {shown(store, 5)}"
    ]
    assert details(store, "Ivy", did("Logged In", window=last(3)), did("Logged In")) == [
        "0 matching events in the last 3 days, and none at any other time",
        "0 matching events ever",
    ]


def test_lifecycle_detail_says_what_decided_it(store):
    first_order = lifecycle("first_time", "Order Completed", window=last(30))
    in_window = f"first on {shown(store, 5)}, in the last 30 days"
    assert details(store, "Ada", first_order) == [in_window]
    assert details(store, "Cleo", first_order) == [
        f"first on {shown(store, 40)}, before the last 30 days"
    ]
    stopped = lifecycle("stopped", "Logged In", window=last(30))
    assert details(store, "Cleo", stopped) == [f"last on {shown(store, 45)}, none since"]
    assert details(store, "Bob", stopped) == [f"last on {shown(store, 5)}, in the last 30 days"]
    assert details(store, "Dan", stopped) == [
        f"last on {shown(store, 100)}, not in the 30 days before the last 30 days either"
    ]
    assert details(store, "Ivy", stopped) == ["no matching events ever"]


def test_the_explain_panel_shows_each_detail_apart_from_its_sentence(signed_in, store):
    tree = group(lifecycle("stopped", "Logged In", window=last(30)))
    data = form_data(tree, **{"explain-profile": "cleo@example.com"})
    html = signed_in.post(reverse("segment-explain"), data, headers=HTMX).content.decode()
    assert "In the segment" in html
    assert "not since)" in html  # the sentence's own parenthesis
    assert ") (" not in html and "((" not in html
    assert '<span class="explain-detail small muted">last on ' in html


def test_the_explain_form_works_without_javascript(store, django_user_model):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(django_user_model.objects.create_user("no-script"))
    tree = group(trait("plan", "equals", "gold"))
    page = client.post(reverse("segment-new"), form_data(tree, csrfmiddlewaretoken="x"))
    assert page.status_code == 403  # a sanity check of the strict client
    page = client.get(reverse("segment-edit", args=[store.segments["gold"].pk]))
    fields = posted_fields(page.content.decode(), "explain-form")
    assert fields.get("csrfmiddlewaretoken")
    assert builder.tree_from_form(fields) == builder.tree_from_form(
        posted_fields(page.content.decode())
    )
    fields["explain-profile"] = "bob@example.org"
    response = client.post(reverse("segment-explain"), fields)
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1>Why is this person in or out?</h1>" in html and "<html" in html
    assert "In the segment" in html and "Gold plan" in html
