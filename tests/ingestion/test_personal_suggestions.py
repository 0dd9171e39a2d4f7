"""Personal fields found on their own: the catalog suggests marking a field personal when its
values look like emails, phones, street addresses, IBANs or card numbers, never keeps such a
value raw as an example meanwhile, and a marketer confirms or dismisses on the field's row."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.db import connection

from cdp_project.access.models import AuditEntry
from cdp_project.access.roles import READ_ONLY_GROUP
from ingestion.catalog.paths import example_value, is_card_number, is_iban, personal_kind
from ingestion.models import ActivityProperty, ProfileAttribute
from tests.conftest import process_stored

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_path_cache")]

RAW = {
    "contact": "ada.lovelace@example.com",
    "hotline": "+43 664 739 1028",
    "deliver_to": "Hauptplatz 1, 4020 Linz",
    "bank": "DE89 3704 0044 0532 0130 00",
    "paid_with": "4111 1111 1111 1111",
}


# --- the detectors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("ada@example.com", "email"),
        ("Ada.Lovelace+shop@mail.example.co.uk", "email"),
        ("+43 664 739 1028", "phone"),
        ("(020) 7946-0958", "phone"),
        ("221B Baker Street", "street_address"),
        ("10 Downing Street, London SW1A 2AA", "street_address"),
        ("12 Main St., Springfield", "street_address"),
        ("Ship to 42 Elm Road please", "street_address"),
        ("12 rue de la Paix", "street_address"),
        ("Hauptstraße 5", "street_address"),
        ("Hauptplatz 1, 4020 Linz", "street_address"),
        ("Mariahilfer Str. 12/3", "street_address"),
        ("Calle Mayor 3", "street_address"),
        ("Via Roma, 10", "street_address"),
        ("DE89 3704 0044 0532 0130 00", "iban"),
        ("GB82WEST12345698765432", "iban"),
        ("AT611904300234573201", "iban"),
        ("please pay to DE89370400440532013000, thanks", "iban"),
        ("4111 1111 1111 1111", "card_number"),
        ("4111-1111-1111-1111", "card_number"),
        ("378282246310005", "card_number"),
        ("card 5555555555554444 exp 12/27", "card_number"),
        (4111111111111111, "card_number"),
    ],
)
def test_each_detector_finds_its_kind(value, kind):
    assert personal_kind(value, "field") == kind


@pytest.mark.parametrize(
    "value",
    [
        "3 Way Switch",
        "4 Drive Bays",
        "Trail shoe",
        "Size 10",
        "Earring 2 pack",
        "Order 1234",
        "ORD-1001",
        "2026-11-20",
        "2026-11-20T10:00:00Z",
        "v1.2.3",
        "12.5",
        "https://shop.example.com/p/12",
        "Streetwear 2026",
        "A gift for my aunt",
        "DE89 3704 0044 0532 0130 01",  # wrong check digits
        "4111 1111 1111 1112",  # fails Luhn
        "0000000000000",
        "1234567890123",
        True,
        None,
        42,
        19.99,
        "x" * 600 + " 12 Baker Street",  # long text is not looked into
    ],
)
def test_ordinary_values_are_not_taken_for_personal_data(value):
    assert personal_kind(value, "field") is None


def test_the_checksums_decide_for_ibans_and_cards():
    assert is_iban("GB82 WEST 1234 5698 7654 32")
    assert not is_iban("GB83 WEST 1234 5698 7654 32")
    assert is_card_number("6011 1111 1111 1117")
    assert not is_card_number("6011 1111 1111 1118")


def test_addresses_ibans_and_cards_are_kept_only_as_a_hint_even_unmasked():
    assert example_value("Hauptplatz 1, 4020 Linz", "x") == "••• (street address)"
    assert example_value(RAW["bank"], "x", mask=False) == "••• (IBAN)"
    assert example_value(RAW["paid_with"], "x", mask=False) == "••• (card number)"
    assert example_value("Trail shoe", "x") == "Trail shoe"


# --- discovery -----------------------------------------------------------------------------


def _send(ingest, properties: dict, *, event: str = "Checkout Noted", user: str = "u1") -> None:
    body = {"type": "track", "event": event, "userId": user, "properties": properties}
    assert ingest("track", body).status_code == 200
    process_stored()


def _field(path: str, event: str = "Checkout Noted") -> ActivityProperty:
    return ActivityProperty.objects.get(activity__name=event, path=path)


def _catalog_text() -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT string_agg(t::text, ' ') FROM ingestion_activityproperty t"
            " UNION ALL SELECT string_agg(t::text, ' ') FROM ingestion_profileattribute t"
        )
        return " ".join(row[0] or "" for row in cursor.fetchall())


def test_fields_whose_values_look_personal_are_suggested_and_keep_no_raw_example(ingest):
    _send(ingest, {**RAW, "colour": "red", "note": "left at the door"})

    suggested = {path: _field(path).personal_suggested for path in [*RAW, "colour", "note"]}
    assert suggested == {
        "contact": "email",
        "hotline": "phone",
        "deliver_to": "street_address",
        "bank": "iban",
        "paid_with": "card_number",
        "colour": "",
        "note": "",
    }
    assert not any(_field(path).personal for path in RAW)
    text = _catalog_text()
    for value in (*RAW.values(), "66473910", "0532 0130"):
        assert value not in text
    assert _field("deliver_to").examples == ["••• (street address)"]
    assert _field("contact").examples == ["a•••@e•••.com"]
    assert _field("colour").examples == ["red"]


def test_a_field_is_suggested_when_a_later_value_looks_personal(ingest):
    _send(ingest, {"reference": "spring sale"})
    assert _field("reference").personal_suggested == ""
    _send(ingest, {"reference": "IBAN GB82 WEST 1234 5698 7654 32"})
    field = _field("reference")
    assert field.personal_suggested == "iban"
    assert field.examples == ["••• (IBAN)", "spring sale"]


def test_profile_attributes_are_suggested_too(ingest):
    body = {"type": "identify", "userId": "u1", "traits": {"home": "221B Baker Street"}}
    assert ingest("identify", body).status_code == 200
    process_stored()
    attribute = ProfileAttribute.objects.get(path="home")
    assert (attribute.personal_suggested, attribute.examples) == (
        "street_address",
        ["••• (street address)"],
    )


def test_a_field_marked_personal_by_its_name_is_not_suggested(ingest):
    _send(ingest, {"email": "ada@example.com"})
    field = _field("email")
    assert field.personal and field.personal_suggested == "" and field.examples == []


# --- a marketer answers --------------------------------------------------------------------------


@pytest.fixture
def marketer(client, django_user_model):
    user = django_user_model.objects.create_user("marketer", "m@example.com", "pw")
    client.force_login(user)
    return user


def test_the_field_row_shows_the_suggestion_with_its_two_answers(ingest, client, marketer):
    _send(ingest, {"bank": RAW["bank"]})
    field = _field("bank")
    html = client.get(f"/activities/{field.activity_id}/").content.decode()
    assert "Its values look like IBANs." in html
    assert 'name="suggestion" value="confirm"' in html
    assert 'name="suggestion" value="dismiss"' in html


def test_confirming_marks_the_field_personal_drops_its_examples_and_is_audited(
    ingest, client, marketer
):
    _send(ingest, {"contact": RAW["contact"], "colour": "red"})
    _send(ingest, {"contact": "grace@example.com"})
    field = _field("contact")
    assert len(field.examples) == 2

    response = client.post(field.get_edit_url(), {"suggestion": "confirm"})
    assert response.status_code == 302

    field.refresh_from_db()
    assert field.personal
    assert (field.examples, field.example_origins, field.personal_suggested) == ([], [], "")
    entry = AuditEntry.objects.get(action="field.personal_confirm")
    assert entry.actor == marketer and entry.object_id == str(field.pk)
    assert "looked like email addresses" in entry.summary
    # From now on it keeps no example.
    _send(ingest, {"contact": "hedy@example.com"})
    field.refresh_from_db()
    assert field.examples == [] and field.volume == 3
    html = client.get(f"/activities/{field.activity_id}/").content.decode()
    assert "Its values look like" not in html


def test_confirming_through_htmx_answers_with_the_row(ingest, client, marketer):
    _send(ingest, {"paid_with": RAW["paid_with"]})
    field = _field("paid_with")
    response = client.post(
        field.get_edit_url(), {"suggestion": "confirm"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith(f'<tr id="field-{field.pk}"')
    assert "personal" in html and "Saved" in html


def test_dismissing_keeps_the_field_and_the_suggestion_does_not_come_back(ingest, client, marketer):
    _send(ingest, {"deliver_to": RAW["deliver_to"]})
    field = _field("deliver_to")
    response = client.post(field.get_edit_url(), {"suggestion": "dismiss"})
    assert response.status_code == 302
    field.refresh_from_db()
    assert not field.personal
    assert (field.personal_suggested, field.personal_dismissed) == ("", True)
    assert AuditEntry.objects.filter(action="field.personal_dismiss").count() == 1

    _send(ingest, {"deliver_to": "221B Baker Street"})
    field.refresh_from_db()
    assert field.personal_suggested == ""
    # Still only hints: an address is never kept raw.
    assert field.examples == ["••• (street address)"]


def test_unmarking_a_personal_field_is_a_dismissal(ingest, client, marketer):
    _send(ingest, {"email": "ada@example.com"})
    field = _field("email")
    client.post(field.get_edit_url(), {"display_name": "", "description": "", "pinned_type": ""})
    field.refresh_from_db()
    assert not field.personal and field.personal_dismissed


def test_an_answer_that_is_neither_is_refused(ingest, client, marketer):
    _send(ingest, {"bank": RAW["bank"]})
    field = _field("bank")
    response = client.post(field.get_edit_url(), {"suggestion": "maybe"})
    assert response.status_code == 400
    field.refresh_from_db()
    assert field.personal_suggested == "iban" and not field.personal


def test_a_read_only_marketer_cannot_answer(ingest, client, django_user_model):
    user = django_user_model.objects.create_user("viewer", "v@example.com", "pw")
    user.groups.add(Group.objects.get_or_create(name=READ_ONLY_GROUP)[0])
    client.force_login(user)
    _send(ingest, {"bank": RAW["bank"]})
    field = _field("bank")
    html = client.get(f"/activities/{field.activity_id}/").content.decode()
    assert "Its values look like IBANs." in html
    assert 'value="confirm"' not in html
    assert client.post(field.get_edit_url(), {"suggestion": "confirm"}).status_code == 403
    field.refresh_from_db()
    assert not field.personal


def test_the_segment_builder_offers_no_address_iban_or_card_as_a_value(ingest):
    from segments.selectors import recent_property_values

    for value in (RAW["bank"], RAW["deliver_to"], RAW["paid_with"], "spring sale"):
        _send(ingest, {"reference": value})
    offered = recent_property_values(
        selector={"kind": "track", "name": "Checkout Noted"}, path="reference"
    )
    assert offered == ["spring sale"]
