"""Failed logins lock a user name out from an address for a while, with a clear message."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db

LIMIT = 5


@pytest.fixture(autouse=True)
def _empty_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def marketer(django_user_model):
    return django_user_model.objects.create_user(
        "marketer", password="Right-pass-42", is_staff=True
    )


def attempt(
    client: Client, password: str, *, ip: str = "198.51.100.7", path: str = "/accounts/login/"
):
    return client.post(path, {"username": "marketer", "password": password}, REMOTE_ADDR=ip)


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


@override_settings(LOGIN_FAILURE_LIMIT=LIMIT, LOGIN_LOCKOUT_SECONDS=900)
def test_after_the_limit_even_the_right_password_is_refused_with_a_message(
    client: Client, marketer
):
    for _ in range(LIMIT):
        response = attempt(client, "wrong")
        assert response.status_code == 200
        assert b"correct username and password" in response.content
    response = attempt(client, "Right-pass-42")
    assert response.status_code == 200 and not logged_in(client)
    assert b"Too many failed logins" in response.content
    assert b"Try again in 15 minutes" in response.content
    # Another address is not locked out, nor is the user name in another case from there.
    assert attempt(Client(), "Right-pass-42", ip="198.51.100.8").status_code == 302
    response = Client().post(
        "/accounts/login/",
        {"username": "MARKETER", "password": "Right-pass-42"},
        REMOTE_ADDR="198.51.100.7",
    )
    assert b"Too many failed logins" in response.content


@override_settings(LOGIN_FAILURE_LIMIT=LIMIT, LOGIN_LOCKOUT_SECONDS=900)
def test_fewer_failures_than_the_limit_let_the_right_password_in_and_start_over(
    client: Client, marketer
):
    for _ in range(LIMIT - 1):
        attempt(client, "wrong")
    assert attempt(client, "Right-pass-42").status_code == 302 and logged_in(client)
    # A success forgets the failures.
    other = Client()
    for _ in range(LIMIT - 1):
        attempt(other, "wrong")
    assert attempt(other, "Right-pass-42").status_code == 302


@override_settings(LOGIN_FAILURE_LIMIT=LIMIT, LOGIN_LOCKOUT_SECONDS=900)
def test_the_lockout_ends(client: Client, marketer):
    import time_machine

    with time_machine.travel("2026-12-01 10:00:00+00:00", tick=False) as clock:
        for _ in range(LIMIT):
            attempt(client, "wrong")
        assert b"Too many failed logins" in attempt(client, "Right-pass-42").content
        clock.shift(901)
        assert attempt(client, "Right-pass-42").status_code == 302


@override_settings(LOGIN_FAILURE_LIMIT=LIMIT, LOGIN_LOCKOUT_SECONDS=900)
def test_the_admin_login_is_throttled_too(client: Client, marketer):
    for _ in range(LIMIT):
        attempt(client, "wrong", path="/admin/login/")
    response = attempt(client, "Right-pass-42", path="/admin/login/")
    assert b"Too many failed logins" in response.content and not logged_in(client)
    # Failures count across both forms: the lockout holds on the other one.
    assert b"Too many failed logins" in attempt(client, "Right-pass-42").content
