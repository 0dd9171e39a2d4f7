"""Publishing a task: by name, after commit, never failing the caller, backing off."""

from __future__ import annotations

import logging

import pytest
from django.db import transaction

from cdp_project.celery import app as celery_app
from cdp_project.core import publish
from cdp_project.core.publish import (
    broker_backoff_reset,
    broker_skipped,
    task_publish,
    task_publish_on_commit,
)


@pytest.fixture
def sent(monkeypatch) -> list[tuple[str, list, dict]]:
    """What reaches the broker, by task name."""
    monkeypatch.setattr(publish, "_broker_skip_until", 0.0)
    messages: list[tuple[str, list, dict]] = []

    def send_task(name, args=None, **options):
        messages.append((name, args, options))

    monkeypatch.setattr(celery_app, "send_task", send_task)
    return messages


@pytest.fixture
def broker_down(monkeypatch) -> list[str]:
    """A broker that refuses every publish; lists the attempts."""
    monkeypatch.setattr(publish, "_broker_skip_until", 0.0)
    attempts: list[str] = []

    def send_task(name, args=None, **options):
        attempts.append(name)
        raise ConnectionRefusedError("the broker is down")

    monkeypatch.setattr(celery_app, "send_task", send_task)
    return attempts


def test_a_task_is_published_by_name_without_retrying(sent):
    assert task_publish("segments.refresh", args=[7]) is True
    assert sent == [("segments.refresh", [7], {"retry": False, "argsrepr": None})]


@pytest.mark.django_db
def test_a_task_is_published_only_once_its_transaction_commits(
    sent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        task_publish_on_commit("ingestion.process_events", args=[[1, 2]], argsrepr="[2 ids]")
        assert sent == []
    assert sent == [("ingestion.process_events", [[1, 2]], {"retry": False, "argsrepr": "[2 ids]"})]


@pytest.mark.django_db
def test_a_rolled_back_transaction_publishes_nothing(sent, django_capture_on_commit_callbacks):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        task_publish_on_commit("segments.refresh", args=[7])
        raise RuntimeError("the save failed")
    assert callbacks == []
    assert sent == []


def test_a_down_broker_never_fails_the_caller_and_is_skipped_for_a_while(
    broker_down, caplog, settings
):
    caplog.set_level(logging.WARNING, logger="cdp_project.core.publish")
    assert task_publish("campaigns.run_due") is False
    assert "task_publish_failed task=campaigns.run_due error=ConnectionRefusedError" in caplog.text
    assert broker_skipped()
    # Within the back-off nothing waits on the broker again: not even another task.
    assert task_publish("segments.refresh", args=[7]) is False
    assert broker_down == ["campaigns.run_due"]


def test_the_broker_is_tried_again_after_the_backoff(broker_down, settings):
    settings.TASK_PUBLISH_BACKOFF = settings.TASK_PUBLISH_BACKOFF * 0
    task_publish("campaigns.run_due")
    task_publish("campaigns.run_due")
    assert broker_down == ["campaigns.run_due", "campaigns.run_due"]


def test_a_reset_tries_the_broker_at_once(broker_down):
    task_publish("campaigns.run_due")
    broker_backoff_reset()
    assert not broker_skipped()
    task_publish("campaigns.run_due")
    assert len(broker_down) == 2
