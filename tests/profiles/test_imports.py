"""CSV imports of customers and orders, through the ingest pipeline."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.test import override_settings

from cdp_project.access.actors import Actor
from ingestion.models import Event, MessageKey, Product, Source
from profiles.imports import (
    IMPORT_SOURCE_NAME,
    ImportRefused,
    anonymous_id_for_email,
    csv_import,
)
from profiles.models import ConsentChange, Identity, Order, Profile

pytestmark = pytest.mark.django_db

PROFILES = (
    (
        "user_id,E-mail,First name,Last name,Phone,email_consent,sms_consent,consent_date,"
        "created_at,plan,orders_before\n"
    )
    + """\
u1,ada@example.com,Ada,Lovelace,+44 20 7946 0958,yes,no,2021-05-01,2019-03-04,gold,12
,grace@example.com,Grace,Hopper,,granted,,,,silver,
u3,,Alan,Turing,,maybe,,,,,
,,Nobody,At All,,,,,,,
u5,not-an-email,Bad,Email,,,,,,,
u6,,Date,Wrong,,,,,31/12/2020,,
"""
)

ORDERS = """\
order_id,customer_id,email,placed_at,total,currency,sku,name,price,quantity,category,brand,status,refunded
O-1,u1,ada@example.com,2016-02-03 10:15,59.98,EUR,SKU-1,Trail shoe,29.99,2,Shoes,Acme,,
O-2,u1,,2023-07-01,100.00,EUR,SKU-2,Rain jacket,60.00,1,Jackets,Acme,refunded,40
O-2,,,,,,SKU-3,Beanie,40.00,1,Hats,Acme,,
O-3,,grace@example.com,2022-01-15T09:00:00Z,25,usd,,,,,,,cancelled,
O-4,u1,,2023-08-01,abc,EUR,,,,,,,,
O-5,u1,,2023-08-02,10,EURO,,,,,,,,
O-6,,,2023-08-03,10,EUR,,,,,,,,
O-7,u1,,,10,EUR,,,,,,,,
O-8,u1,,2023-08-04,10,EUR,SKU-9,Sock,1.50,two,,,,
O-8,u1,,2023-08-04,10,EUR,SKU-10,Sock,1.50,1,,,,
O-9,u1,,2023-08-05,10,EUR,,,,,,,pending,
O-1,u1,,2016-02-03 10:15,59.98,EUR,SKU-4,Lace,1,1,,,,
"""


def run(kind: str, text: str | bytes, **kwargs):
    data = text.encode() if isinstance(text, str) else text
    return csv_import(actor=Actor.system("test"), kind=kind, data=data, **kwargs)


def reasons(report) -> dict[int, str]:
    return {refusal.line: refusal.reason for refusal in report.refused}


def table_counts() -> dict[str, int]:
    """Rows in every table of the project's apps and Django's own."""
    return {model._meta.label: model.objects.count() for model in apps.get_models()}


# --- customers -----------------------------------------------------------------------------


def test_customers_become_profiles_with_ids_traits_and_consent():
    report = run("profiles", PROFILES)

    assert report.rows == 6
    assert (report.imported, report.unchanged, report.refused_count) == (2, 0, 4)
    assert str(report.imported_lines) == "2-3"
    why = reasons(report)
    assert "email_consent “maybe”" in why[4]
    assert "no user_id, email or anonymous_id" in why[5]
    assert "not an email address" in why[6]
    assert "31/12/2020" in why[7] and "ambiguous" in why[7]

    ada = Identity.objects.get(namespace="user_id", value="u1").profile
    assert ada.email == "ada@example.com"
    assert {(i.namespace, i.value) for i in ada.identities.all()} == {
        ("user_id", "u1"),
        ("email", "ada@example.com"),
    }
    events = Event.objects.filter(profile=ada).order_by("timestamp")
    assert all(e.source.name == IMPORT_SOURCE_NAME for e in events)
    assert all(e.context["library"]["name"] == "csv-import" for e in events)
    traits = {k: v for e in events for k, v in e.traits.items()}
    # Aliases normalised; numbers typed; phone numbers kept as text; dates as ISO.
    assert traits["email"] == "ada@example.com"
    assert traits["first_name"] == "Ada" and traits["last_name"] == "Lovelace"
    assert traits["phone"] == "+44 20 7946 0958"
    assert traits["orders_before"] == 12
    assert traits["plan"] == "gold"
    assert traits["created_at"] == "2019-03-04T00:00:00Z"
    assert traits["email_consent"] == "granted" and traits["sms_consent"] == "withdrawn"
    # Consent with a date is an identify at that date; the rest at the created date.
    consent_event = next(e for e in events if "email_consent" in e.traits)
    assert consent_event.timestamp == datetime(2021, 5, 1, tzinfo=UTC)
    assert "timestamp_out_of_range" not in consent_event.flags

    # Known by email only: an anonymous id made from the email, the same every time.
    grace = Identity.objects.get(namespace="email", value="grace@example.com").profile
    assert grace.identities.filter(
        namespace="anonymous_id", value=anonymous_id_for_email("grace@example.com")
    ).exists()
    assert not Event.objects.filter(processed_at__isnull=True).exists()


def test_consent_lands_on_the_profile_with_its_date_and_history():
    run("profiles", PROFILES)
    ada = Profile.objects.get(user_id="u1")
    assert ada.email_consent == "granted"
    assert ada.email_consent_at == datetime(2021, 5, 1, tzinfo=UTC)
    assert ada.sms_consent == "withdrawn"
    history = set(ConsentChange.objects.filter(profile=ada).values_list("channel", "state"))
    assert history == {("email", "granted"), ("sms", "withdrawn")}
    assert ada.traits["first_name"] == "Ada"


def test_reimporting_the_same_customers_changes_nothing():
    run("profiles", PROFILES)
    before = table_counts()
    again = run("profiles", PROFILES)
    assert (again.imported, again.unchanged, again.refused_count) == (0, 2, 4)
    assert str(again.unchanged_lines) == "2-3"
    # Only the import itself is recorded, in the audit log.
    assert table_counts() == {**before, "access.AuditEntry": before["access.AuditEntry"] + 1}


def test_a_changed_customer_row_is_imported_again_and_its_newer_traits_win():
    run("profiles", "user_id,plan\nu1,gold\n")
    report = run("profiles", "user_id,plan\nu1,platinum\n")
    assert report.imported == 1
    assert Profile.objects.get(user_id="u1").traits["plan"] == "platinum"


def test_separators_bom_and_quoted_values_are_read():
    text = '\ufeffuser_id;email;city\r\nu1;ada@example.com;"Paris; France"\r\n'
    report = run("profiles", text.encode("utf-8"))
    assert report.imported == 1, report.summary()
    tab = run("profiles", "user_id\tcity\nu2\tRome\n")
    assert tab.imported == 1
    traits = Event.objects.filter(user_id="u1", type="identify").get().traits
    assert traits["city"] == "Paris; France"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"user_id,email\n", "no rows"),
        ("user_id,email\nu1,caf\xe9\n".encode("latin-1"), "not UTF-8"),
        (b"user_id,email\nu1\x00,a@b.co\n", "NUL"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not UTF-8"),
        (b"plan,city\ngold,Paris\n", "needs a user_id, email or anonymous_id column"),
        (b"email,E-mail\na@b.co,c@d.co\n", "both mean email"),
        (b"user_id\nu1\n" + b"u2\n" * 5000 + b"caf\xe9\n", "not UTF-8 text \\(line 5003\\)"),
    ],
)
def test_an_unreadable_file_is_refused_whole_and_imports_nothing(data, message):
    with pytest.raises(ImportRefused, match=message):
        csv_import(actor=Actor.system("test"), kind="profiles", data=data)
    assert not Event.objects.exists()
    assert not Profile.objects.exists()


def test_a_file_over_the_limit_is_refused():
    with pytest.raises(ImportRefused, match="The file is 2 KB; the limit is 1 KB"):
        run("profiles", "user_id\n" + "u\n" * 1100, max_bytes=1024)


def test_a_row_with_more_values_than_columns_is_refused_by_line():
    report = run("profiles", "user_id,city\nu1,Paris, France\nu2,Rome\n")
    assert reasons(report) == {
        2: "The row has 3 values but the header has 2 columns; a value holding the "
        "separator needs quotes."
    }
    assert report.imported == 1


def test_a_suppressed_persons_row_is_refused_with_the_reason(client):
    from profiles.rights import profile_delete

    run("profiles", "user_id,email\nu1,ada@example.com\n")
    profile_delete(actor=Actor.system("test"), profile_id=Profile.objects.get().pk, suppress=True)
    report = run("profiles", "user_id,email,plan\nu1,ada@example.com,gold\n")
    assert report.imported == 0
    assert "suppressed" in reasons(report)[2]
    assert not Profile.objects.exists()


def test_orders_of_a_suppressed_person_known_by_email_are_refused_and_make_no_one():
    from django.utils import timezone

    from ingestion import services as ingest_services
    from ingestion.messages import BatchContext
    from profiles.rights import profile_delete

    # The person came from the site, never from an import, and was deleted.
    source = ingest_services.source_create(actor=Actor.system("test"), name="Shop")
    ingest_services.events_ingest(
        source=source,
        messages=[{"type": "identify", "userId": "u9", "traits": {"email": "gone@example.com"}}],
        batch=BatchContext(received_at=timezone.now()),
    )
    profile_delete(actor=Actor.system("test"), profile_id=Profile.objects.get().pk, suppress=True)
    orders = (
        "order_id,email,placed_at,total,sku\n"
        "O-1,gone@example.com,2024-03-01,99.50,A\n"
        "O-2,gone@example.com,2024-04-01,10.00,B\n"
    )
    report = run("orders", orders)
    assert report.imported == 0
    assert "suppressed" in reasons(report)[2] and "suppressed" in reasons(report)[3]
    assert not Profile.objects.exists()
    assert not Order.objects.exists()


# --- orders --------------------------------------------------------------------------------


def test_orders_are_imported_with_their_dates_items_and_statuses_and_refusals_by_line():
    run("profiles", PROFILES)
    report = run("orders", ORDERS)

    assert report.rows == 12
    assert (report.imported, report.unchanged) == (3, 0), report.summary()
    assert str(report.imported_lines) == "2-5"
    why = reasons(report)
    assert "total “abc” is not a number" in why[6]
    assert "currency “EURO”" in why[7]
    assert "no customer" in why[8]
    assert "no placed_at" in why[9]
    assert "quantity “two”" in why[10]
    assert "error on another line" in why[11] or "quantity" in why[11]
    assert "status “pending”" in why[12]
    assert "already appeared above (line 2)" in why[13]
    assert report.refused_count == 8

    # Back-dated: the 2016 order keeps its date, past the API's five-year rule.
    completed = Event.objects.get(name="Order Completed", properties__order_id="O-1")
    assert completed.timestamp == datetime(2016, 2, 3, 10, 15, tzinfo=UTC)
    assert "timestamp_out_of_range" not in completed.flags
    assert completed.properties == {
        "order_id": "O-1",
        "total": 59.98,
        "revenue": 59.98,
        "currency": "EUR",
        "products": [
            {
                "sku": "SKU-1",
                "name": "Trail shoe",
                "category": "Shoes",
                "brand": "Acme",
                "price": 29.99,
                "quantity": 2,
            }
        ],
    }
    ada = Profile.objects.get(user_id="u1")
    assert completed.profile_id == ada.pk
    # One order over two rows: both items.
    two = Event.objects.get(name="Order Completed", properties__order_id="O-2")
    assert [p["sku"] for p in two.properties["products"]] == ["SKU-2", "SKU-3"]
    refund = Event.objects.get(name="Order Refunded")
    assert refund.properties == {"order_id": "O-2", "total": 40, "currency": "EUR"}
    # Known by email only: the same profile the customer import made.
    cancelled = Event.objects.get(name="Order Cancelled")
    assert cancelled.properties["order_id"] == "O-3"
    assert cancelled.profile.email == "grace@example.com"
    assert Profile.objects.count() == 2
    # The catalog learned the products.
    assert Product.objects.filter(key="SKU-1", name="Trail shoe").exists()


def test_imported_orders_count_on_the_profile():
    run("orders", ORDERS)
    orders = {o.order_id: o for o in Order.objects.all()}
    assert set(orders) == {"O-1", "O-2", "O-3"}
    assert orders["O-1"].placed_at == datetime(2016, 2, 3, 10, 15, tzinfo=UTC)
    assert orders["O-2"].refunded == Decimal("40.00")
    assert orders["O-2"].status == Order.Status.PARTLY_REFUNDED
    assert orders["O-3"].status == Order.Status.CANCELLED
    ada = Profile.objects.get(user_id="u1")
    assert ada.orders_count == 2
    assert ada.last_order_at == datetime(2023, 7, 1, tzinfo=UTC)
    # Scored with everyone at once, not at the next hourly refresh.
    assert len(ada.rfm_score) == 3 and ada.rfm_at is not None


def test_reimporting_the_same_orders_changes_nothing():
    run("profiles", PROFILES)
    run("orders", ORDERS)
    before = table_counts()
    keys = MessageKey.objects.count()
    again = run("orders", ORDERS)
    assert (again.imported, again.unchanged, again.refused_count) == (0, 3, 8)
    assert table_counts() == {**before, "access.AuditEntry": before["access.AuditEntry"] + 1}
    assert MessageKey.objects.count() == keys


def test_an_order_already_imported_is_not_changed_by_a_corrected_file_but_a_refund_is_added():
    run("orders", "order_id,user_id,placed_at,total\nO-1,u1,2023-01-01,50\n")
    corrected = run("orders", "order_id,user_id,placed_at,total\nO-1,u1,2023-01-01,55\n")
    assert corrected.unchanged == 1
    refunded = run(
        "orders", "order_id,user_id,placed_at,total,status\nO-1,u1,2023-01-01,50,refunded\n"
    )
    assert refunded.imported == 1
    assert Event.objects.filter(name="Order Completed").count() == 1
    assert Event.objects.get(name="Order Refunded").properties["total"] == 50


def test_an_order_total_defaults_to_its_items():
    run("orders", "order_id,user_id,placed_at,sku,price,quantity\nO-1,u1,2023-01-01,A,2.50,4\n")
    assert Event.objects.get(name="Order Completed").properties["total"] == 10


def test_orders_header_must_name_order_date_and_customer():
    with pytest.raises(ImportRefused, match="order_id, placed_at, user_id or email"):
        run("orders", "total,currency\n10,EUR\n")


def test_a_date_in_the_future_is_refused():
    report = run("orders", "order_id,user_id,placed_at,total\nO-1,u1,2999-01-01,5\n")
    assert "in the future" in reasons(report)[2]


@override_settings(TIME_ZONE="America/New_York")
def test_dates_without_an_offset_are_the_sites_time():
    run(
        "orders",
        "order_id,user_id,placed_at,total\nO-1,u1,2023-01-01,5\nO-2,u1,2023-01-02T10:00+01:00,5\n",
    )
    times = dict(
        Event.objects.filter(name="Order Completed").values_list(
            "properties__order_id", "timestamp"
        )
    )
    assert times["O-1"] == datetime(2023, 1, 1, 5, tzinfo=UTC)
    assert times["O-2"] == datetime(2023, 1, 2, 9, tzinfo=UTC)


# --- the command and the page ---------------------------------------------------------------


def test_the_commands_import_a_file_and_print_the_report(tmp_path):
    customers = tmp_path / "customers.csv"
    customers.write_text(PROFILES)
    orders = tmp_path / "orders.csv"
    orders.write_text(ORDERS)
    out = io.StringIO()
    call_command("import_profiles", str(customers), stdout=out)
    call_command("import_orders", str(orders), stdout=out)
    text = out.getvalue()
    assert "Imported: 2 profiles (lines 2-3)." in text
    assert "Imported: 3 orders (lines 2-5)." in text
    assert "line 7: currency “EURO”" in text
    with pytest.raises(CommandError, match="not UTF-8"):
        bad = tmp_path / "bad.csv"
        bad.write_bytes("user_id\ncaf\xe9\n".encode("latin-1"))
        call_command("import_profiles", str(bad))
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_orders", str(tmp_path / "missing.csv"))


@pytest.fixture
def marketer_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("marketer", "m@example.com", "pw"))
    return client


def upload(client, kind: str, text: str | bytes, name: str = "file.csv"):
    data = text.encode() if isinstance(text, str) else text
    file = io.BytesIO(data)
    file.name = name
    return client.post("/profiles/import/", {"kind": kind, f"{kind}-file": file})


def test_the_import_page_needs_a_login(client):
    response = client.get("/profiles/import/")
    assert response.status_code == 302 and "/login" in response["Location"]


def test_the_import_page_shows_both_forms_with_sample_headers(marketer_client):
    response = marketer_client.get("/profiles/import/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="profiles-file"' in html and 'name="orders-file"' in html
    assert "user_id,<wbr>email,<wbr>first_name" in html
    assert "order_id,<wbr>user_id,<wbr>email,<wbr>placed_at" in html


def test_uploading_shows_the_report_by_line(marketer_client):
    response = upload(marketer_client, "profiles", PROFILES)
    assert response.status_code == 200
    html = response.content.decode()
    assert "import report" in html
    assert "Lines 2-3" in html
    assert "is not an email address" in html
    response = upload(marketer_client, "orders", ORDERS)
    assert "currency “EURO”" in response.content.decode()
    assert Event.objects.filter(name="Order Completed").count() == 3


def test_an_unreadable_upload_is_refused_with_the_reason(marketer_client):
    response = upload(marketer_client, "orders", b"\xff\xfe\x00garbage")
    assert response.status_code == 400
    assert "not UTF-8" in response.content.decode()
    assert not Event.objects.exists()


@override_settings(PROFILE_IMPORT_MAX_BYTES=100)
def test_a_too_large_upload_is_refused_and_never_written_to_disk(marketer_client, monkeypatch):
    import tempfile

    def no_temp_files(*args, **kwargs):
        raise AssertionError("the upload was written to a temporary file")

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", no_temp_files)
    response = upload(marketer_client, "profiles", "user_id\n" + "u1\n" * 100)
    assert response.status_code == 400
    assert "the limit is" in response.content.decode()
    small = upload(marketer_client, "profiles", "user_id\nu1\n")
    assert small.status_code == 200
    assert Profile.objects.count() == 1


def test_an_upload_needs_the_csrf_token(django_user_model):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(django_user_model.objects.create_user("m", "m@example.com", "pw"))
    response = upload(client, "profiles", "user_id\nu1\n")
    assert response.status_code == 403
    assert not Source.objects.filter(name=IMPORT_SOURCE_NAME).exists()


def test_a_partly_refunded_order_needs_its_refunded_amount():
    header = "order_id,user_id,placed_at,total,status,refunded\n"
    report = run("orders", header + "O-1,u1,2023-01-01,50,partially_refunded,\n")
    assert "needs the amount refunded" in reasons(report)[2]
    report = run("orders", header + "O-2,u1,2023-01-01,50,partially_refunded,20\n")
    assert report.imported == 1
    assert Event.objects.get(name="Order Refunded").properties["total"] == 20


def test_an_amount_that_reads_as_thousands_or_decimals_is_refused():
    report = run("orders", 'order_id,user_id,placed_at,total\nO-1,u1,2024-03-01,"1,299"\n')
    assert report.imported == 0
    assert "thousands or as decimals" in reasons(report)[2]
    report = run("orders", 'order_id,user_id,placed_at,total\nO-2,u1,2024-03-01,"1.299,50"\n')
    assert report.imported == 1
    assert Order.objects.get(order_id="O-2").total == Decimal("1299.50")


def test_an_imported_order_whose_items_pass_the_amount_bound_is_refused():
    text = (
        "order_id,customer_id,placed_at,total,currency,sku,price,quantity\n"
        "BIG,u1,2023-08-01,,EUR,SKU-1,9000000000,200\n"
        "OK,u1,2023-08-02,,EUR,SKU-1,9000000000,2\n"
    )
    report = run("orders", text)
    assert "is not below 1,000,000,000,000" in reasons(report)[2]
    assert [o.order_id for o in Order.objects.all()] == ["OK"]
