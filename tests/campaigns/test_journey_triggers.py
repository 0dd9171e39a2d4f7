"""Journeys entered other than on an activity: joining or leaving a segment, a date in a
trait, a broadcast. Time is controlled; the workers' tasks are called as the worker would."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core import mail
from django.db import transaction

from campaigns import broadcasts, entries
from campaigns.journeys.definition import BroadcastTrigger
from campaigns.journeys.services import (
    journey_create,
    journey_draft_save,
    journey_problems,
    journey_publish,
    template_definition,
)
from campaigns.models import Campaign, Enrollment, JourneyRun, Message
from campaigns.services import campaign_status_set
from cdp_project.access.actors import Actor
from ingestion.models import ProfileAttribute
from profiles.models import Consent, Profile
from segments.membership import segment_refresh
from segments.models import Membership, MembershipChange, Segment
from tests.campaigns.conftest import NOW, identify, later, run, send, track

pytestmark = pytest.mark.django_db
ACTOR = Actor.system("test")


def vip_segment(name: str = "VIPs") -> Segment:
    # The trait the segment names is in the catalog, as identify calls would have put it.
    ProfileAttribute.objects.get_or_create(path="tier", defaults={"string_count": 1})
    definition = {
        "kind": "group",
        "match": "all",
        "negate": False,
        "conditions": [
            {
                "kind": "attribute",
                "negate": False,
                "scope": "trait",
                "path": "tier",
                "operator": "equals",
                "value": "vip",
            }
        ],
    }
    return Segment.objects.create(name=name, definition=definition)


def email_step(subject: str = "Hello", nxt: str = "") -> dict[str, Any]:
    return {
        "id": "email",
        "type": "send",
        "channel": "email",
        "transactional": False,
        "subject": subject,
        "html": "<p>Hi</p>",
        "text": "Hi",
        "items": "",
        "sender_name": "",
        "sender_email": "",
        "webhook_url": "",
        "next": nxt,
    }


def make_journey(
    trigger: dict[str, Any],
    *,
    steps: list[dict[str, Any]] | None = None,
    reentry: str = Campaign.Reentry.ALWAYS,
    activate: bool = True,
) -> Campaign:
    campaign = journey_create(actor=ACTOR, name="Trigger test", template="blank")
    definition = template_definition("blank")
    definition["trigger"] = trigger
    definition["steps"] = steps or [email_step()]
    definition["start"] = definition["steps"][0]["id"]
    assert journey_draft_save(actor=ACTOR, campaign=campaign, definition=definition) == []
    journey_publish(actor=ACTOR, campaign=campaign)
    Campaign.objects.filter(pk=campaign.pk).update(reentry=reentry)
    campaign.refresh_from_db()
    if activate:
        campaign_status_set(actor=ACTOR, campaign=campaign, status=Campaign.Status.ACTIVE)
    return campaign


def person(user: str) -> Profile:
    return Profile.objects.get(user_id=user)


@pytest.fixture
def published(monkeypatch) -> list[tuple[str, tuple]]:
    """The tasks the triggers publish (the test runs them as the worker would)."""
    seen: list[tuple[str, tuple]] = []

    def record(name: str, *, args: Any = (), **options: Any) -> None:
        seen.append((name, tuple(args)))

    monkeypatch.setattr(entries, "task_publish_on_commit", record)
    monkeypatch.setattr(broadcasts, "task_publish_on_commit", record)
    monkeypatch.setattr(broadcasts, "task_publish", lambda name, **options: True)
    return seen


def run_segment_entries(published: list[tuple[str, tuple]]) -> None:
    for name, args in list(published):
        if name == "campaigns.segment_entries":
            entries.segment_entries_detect(*args)
    published.clear()


# --- Segment entry and exit ----------------------------------------------------------------------


def test_an_event_that_puts_a_person_in_the_segment_enrolls_them_at_once(ingest, clock, published):
    segment = vip_segment()
    campaign = make_journey({"kind": "segment", "segment": segment.pk, "on": "entry"})
    later(clock, minutes=1)
    send(ingest, identify("ann", tier="regular"))
    run_segment_entries(published)
    assert not Enrollment.objects.filter(campaign=campaign).exists()

    later(clock, minutes=2)
    send(ingest, identify("ann", tier="vip"))
    assert published == [("campaigns.segment_entries", ([person("ann").pk],))]
    run_segment_entries(published)

    [enrolled] = Enrollment.objects.filter(campaign=campaign)
    change = MembershipChange.objects.get(segment=segment, profile=person("ann"))
    assert enrolled.key == f"segment:{change.pk}"
    assert enrolled.trigger_at == NOW + timedelta(minutes=2)
    assert enrolled.version == campaign.version
    assert Membership.objects.filter(segment=segment, profile=person("ann")).exists()
    run()
    assert [m.to for m in mail.outbox] == [["ann@example.com"]]
    # The scheduled refresh finds nothing new, and reading again enrolls nobody twice.
    assert segment_refresh(segment).entered == 0
    assert broadcasts.journeys_tick()["segment_entries"] == 0
    assert Enrollment.objects.filter(campaign=campaign).count() == 1


def test_the_scheduled_refresh_enrolls_the_entries_it_finds_once(ingest, clock, published):
    segment = vip_segment()
    send(ingest, identify("ann", tier="vip"), identify("bob", tier="vip"))
    # Members before the journey existed did not join it.
    segment_refresh(segment)
    later(clock, minutes=1)
    campaign = make_journey({"kind": "segment", "segment": segment.pk, "on": "entry"})
    later(clock, minutes=2)
    # A change the batch check did not see (its task was lost): the refresh finds it.
    send(ingest, identify("cid", tier="vip"))
    published.clear()
    assert segment_refresh(segment).entered == 1

    assert broadcasts.journeys_tick()["segment_entries"] == 1
    assert broadcasts.journeys_tick()["segment_entries"] == 0
    assert list(
        Enrollment.objects.filter(campaign=campaign).values_list("profile__user_id", flat=True)
    ) == ["cid"]


def test_leaving_a_segment_enrolls_with_an_exit_trigger(ingest, clock, published):
    segment = vip_segment()
    campaign = make_journey({"kind": "segment", "segment": segment.pk, "on": "exit"})
    later(clock, minutes=1)
    send(ingest, identify("ann", tier="vip"))
    run_segment_entries(published)
    assert not Enrollment.objects.filter(campaign=campaign).exists()
    later(clock, minutes=2)
    send(ingest, identify("ann", tier="lapsed"))
    run_segment_entries(published)
    [enrolled] = Enrollment.objects.filter(campaign=campaign)
    assert enrolled.trigger["name"] == "Left segment"
    assert not Membership.objects.filter(segment=segment).exists()


@pytest.mark.parametrize(
    ("reentry", "entries"),
    [
        (Campaign.Reentry.ONCE, 1),
        (Campaign.Reentry.ALWAYS, 2),
        # The first entry still waits (a day's wait) when the second comes.
        (Campaign.Reentry.WHILE_PENDING, 1),
        (Campaign.Reentry.PER_DAYS, 1),
    ],
)
def test_re_entering_a_segment_follows_the_re_entry_rule(
    ingest, clock, published, reentry, entries
):
    segment = vip_segment()
    wait = {"id": "wait", "type": "wait", "seconds": 86400, "next": "email"}
    campaign = make_journey(
        {"kind": "segment", "segment": segment.pk, "on": "entry"},
        steps=[wait, email_step()],
        reentry=reentry,
    )
    for minutes, tier in ((1, "vip"), (2, "none"), (3, "vip")):
        later(clock, minutes=minutes)
        send(ingest, identify("ann", tier=tier))
        run_segment_entries(published)
    assert MembershipChange.objects.filter(segment=segment, kind="entered").count() == 2
    assert Enrollment.objects.filter(campaign=campaign).count() == entries


def test_a_wide_entry_enrolls_in_chunks_each_its_own_transaction(clock, published):
    segment = vip_segment()
    campaign = make_journey({"kind": "segment", "segment": segment.pk, "on": "entry"})
    later(clock, minutes=1)
    Profile.objects.bulk_create(
        Profile(user_id=f"p{n}", email=f"p{n}@example.com", traits={"tier": "vip"})
        for n in range(2500)
    )
    assert segment_refresh(segment).entered == 2500
    chunks = []
    original = entries._segment_entries_chunk

    def counted(*args: Any, **kwargs: Any) -> tuple[int, bool]:
        chunks.append(1)
        return original(*args, **kwargs)

    entries._segment_entries_chunk = counted  # type: ignore[assignment]
    try:
        assert entries.segment_entries_enroll(chunk=1000) == 2500
    finally:
        entries._segment_entries_chunk = original  # type: ignore[assignment]
    assert len(chunks) == 3
    assert Enrollment.objects.filter(campaign=campaign).count() == 2500
    assert Enrollment.objects.filter(campaign=campaign).values("profile").distinct().count() == 2500


def test_a_paused_segment_journey_enrolls_no_one(ingest, clock, published):
    segment = vip_segment()
    campaign = make_journey({"kind": "segment", "segment": segment.pk, "on": "entry"})
    campaign_status_set(actor=ACTOR, campaign=campaign, status=Campaign.Status.PAUSED)
    later(clock, minutes=1)
    send(ingest, identify("ann", tier="vip"))
    assert published == []  # no journey watches the segment: no check is published
    assert segment_refresh(segment).entered == 1
    assert broadcasts.journeys_tick()["segment_entries"] == 0
    assert not Enrollment.objects.filter(campaign=campaign).exists()


def test_the_audience_is_checked_at_segment_entry(ingest, clock, published):
    segment = vip_segment()
    campaign = make_journey({"kind": "segment", "segment": segment.pk, "on": "entry"})
    audience = vip_segment("Opted in")
    audience.definition = {
        "kind": "group",
        "match": "all",
        "negate": False,
        "conditions": [
            {"kind": "consent", "negate": False, "channel": "email", "state": "granted"}
        ],
    }
    audience.save()
    Campaign.objects.filter(pk=campaign.pk).update(audience=audience)
    later(clock, minutes=1)
    send(ingest, identify("ann", tier="vip"), identify("bob", tier="vip", consent=False))
    run_segment_entries(published)
    assert list(
        Enrollment.objects.filter(campaign=campaign).values_list("profile__user_id", flat=True)
    ) == ["ann"]


# --- Date in a trait ---------------------------------------------------------------------------


def people_with(trait: str, values: dict[str, str]) -> None:
    for user, value in values.items():
        Profile.objects.create(
            user_id=user,
            email=f"{user}@example.com",
            email_consent=Consent.GRANTED,
            traits={trait: value},
        )


def entered(campaign: Campaign) -> list[str]:
    return sorted(
        Enrollment.objects.filter(campaign=campaign).values_list("profile__user_id", flat=True)
    )


def tick_and_run(now: datetime) -> list[int]:
    with time_machine.travel(now, tick=False):
        runs = broadcasts.journey_runs_start()
        for run_id in runs:
            while broadcasts.journey_run_chunk(run_id, chunk=2):
                pass
        return runs


def test_a_yearly_date_enrolls_at_the_site_time_of_day_once_per_day(settings, published):
    settings.TIME_ZONE = "Europe/Paris"
    people_with(
        "birthday",
        {
            "ann": "1990-11-20",
            "bob": "1985-11-20T00:00:00Z",
            "cid": "1990-11-21",
            "dee": "not a date",
            "eve": "2001-11-20",
        },
    )
    with time_machine.travel(NOW, tick=False):
        campaign = make_journey(
            {"kind": "date", "trait": "birthday", "at": "09:00", "yearly": True}
        )
    # 09:00 in Paris is 08:00 UTC in November.
    assert tick_and_run(datetime(2026, 11, 20, 7, 59, tzinfo=UTC)) == []
    [run_id] = tick_and_run(datetime(2026, 11, 20, 8, 0, tzinfo=UTC))
    assert entered(campaign) == ["ann", "bob", "eve"]
    assert (
        Enrollment.objects.filter(campaign=campaign, key__startswith="date:2026-11-20:").count()
        == 3
    )
    finished = JourneyRun.objects.get(pk=run_id)
    assert (finished.enrolled, finished.skipped, finished.finished_at is not None) == (3, 0, True)
    # Later ticks the same day start nothing; the next day's time enrolls the next birthdays.
    assert tick_and_run(datetime(2026, 11, 20, 15, 0, tzinfo=UTC)) == []
    tick_and_run(datetime(2026, 11, 21, 8, 0, tzinfo=UTC))
    assert entered(campaign) == ["ann", "bob", "cid", "eve"]


def test_a_birthday_on_29_february_is_kept_on_28_february_of_other_years(published):
    people_with("birthday", {"leap": "2000-02-29", "late": "2000-02-28", "march": "2000-03-01"})
    with time_machine.travel(datetime(2027, 2, 1, tzinfo=UTC), tick=False):
        campaign = make_journey(
            {"kind": "date", "trait": "birthday", "at": "09:00", "yearly": True}
        )
    tick_and_run(datetime(2027, 2, 28, 9, 0, tzinfo=UTC))
    assert entered(campaign) == ["late", "leap"]
    Enrollment.objects.all().delete()
    # In a leap year, each on their own day.
    tick_and_run(datetime(2028, 2, 28, 9, 0, tzinfo=UTC))
    assert entered(campaign) == ["late"]
    tick_and_run(datetime(2028, 2, 29, 9, 0, tzinfo=UTC))
    assert entered(campaign) == ["late", "leap"]


def test_a_one_off_date_matches_the_whole_date(published):
    people_with("renews_at", {"ann": "2026-11-20T10:00:00+00:00", "bob": "2027-11-20"})
    with time_machine.travel(NOW - timedelta(hours=6), tick=False):
        campaign = make_journey(
            {"kind": "date", "trait": "renews_at", "at": "06:00", "yearly": False}
        )
    tick_and_run(NOW)
    assert entered(campaign) == ["ann"]


def test_a_missed_date_run_is_made_up_within_the_stale_limit_only(published):
    people_with("birthday", {"ann": "1990-11-20"})
    with time_machine.travel(NOW - timedelta(days=3), tick=False):
        campaign = make_journey(
            {"kind": "date", "trait": "birthday", "at": "09:00", "yearly": True}
        )
    tick_and_run(datetime(2026, 11, 19, 9, 0, tzinfo=UTC))
    # The workers were away from before 09:00 on the 20th to 08:00 on the 21st: the 20th's
    # run is made up then, within the stale limit; nothing older is.
    tick_and_run(datetime(2026, 11, 21, 8, 0, tzinfo=UTC))
    assert entered(campaign) == ["ann"]
    assert JourneyRun.objects.latest("run_at").run_at == datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    tick_and_run(datetime(2026, 11, 23, 10, 0, tzinfo=UTC))
    assert not JourneyRun.objects.filter(run_at__date=date(2026, 11, 22)).exists()


# --- Broadcasts ---------------------------------------------------------------------------------


def members(count: int) -> list[Profile]:
    """People who are in the VIP segment once it is evaluated, with email consent."""
    return Profile.objects.bulk_create(
        Profile(
            user_id=f"m{n}",
            email=f"m{n}@example.com",
            email_consent=Consent.GRANTED,
            traits={"tier": "vip"},
        )
        for n in range(count)
    )


def test_a_broadcast_now_sends_once_to_every_member_at_send_time(clock, published):
    segment = vip_segment()
    members(7)
    Profile.objects.create(user_id="out", email="out@example.com", traits={"tier": "none"})
    campaign = make_journey({"kind": "broadcast", "segment": segment.pk, "repeat": "none"})
    # Joined after activation and before the run: evaluated at send time, so in.
    Profile.objects.create(
        user_id="late",
        email="late@example.com",
        email_consent=Consent.GRANTED,
        traits={"tier": "vip"},
    )
    [run_id] = broadcasts.journey_runs_start()
    assert broadcasts.journey_runs_start() == []  # a one-off runs once
    chunks = 1
    while broadcasts.journey_run_chunk(run_id, chunk=3):
        chunks += 1
    assert chunks == 3
    finished = JourneyRun.objects.get(pk=run_id)
    assert (finished.enrolled, finished.chunks) == (8, 3)
    assert finished.finished_at is not None
    run()
    assert len(mail.outbox) == 8
    assert "out@example.com" not in {m.to[0] for m in mail.outbox}
    later(clock, days=8)
    assert broadcasts.journey_runs_start() == []
    assert Message.objects.filter(campaign=campaign).count() == 8


def test_a_broadcast_killed_mid_chunk_resumes_and_nobody_gets_it_twice(
    clock, published, monkeypatch
):
    segment = vip_segment()
    members(10)
    campaign = make_journey({"kind": "broadcast", "segment": segment.pk, "repeat": "none"})
    [run_id] = broadcasts.journey_runs_start()
    assert broadcasts.journey_run_chunk(run_id, chunk=4)

    original = broadcasts.entries_enroll

    def killed(*args: Any, **kwargs: Any) -> int:
        original(*args, **kwargs)  # the enrollments are written, then the worker dies
        raise SystemExit("killed")

    monkeypatch.setattr(broadcasts, "entries_enroll", killed)
    with pytest.raises(SystemExit):
        broadcasts.journey_run_chunk(run_id, chunk=4)
    monkeypatch.setattr(broadcasts, "entries_enroll", original)
    halfway = JourneyRun.objects.get(pk=run_id)
    assert (halfway.chunks, halfway.enrolled, halfway.finished_at) == (1, 4, None)
    assert Enrollment.objects.filter(campaign=campaign).count() == 4

    # Not resumed while its lease runs; after it, the tick publishes it again.
    later(clock, seconds=30)
    assert broadcasts.journey_runs_start() == []
    later(clock, seconds=90)
    assert broadcasts.journey_runs_start() == [run_id]
    while broadcasts.journey_run_chunk(run_id, chunk=4):
        pass
    # A task delivered twice finds the run finished.
    assert broadcasts.journey_run_chunk(run_id, chunk=4) is False
    run()
    run()
    assert Enrollment.objects.filter(campaign=campaign).count() == 10
    assert Message.objects.filter(campaign=campaign).count() == 10
    assert sorted(m.to[0] for m in mail.outbox) == sorted(f"m{n}@example.com" for n in range(10))
    assert JourneyRun.objects.get(pk=run_id).enrolled == 10


def test_a_run_whose_chunk_runs_twice_enrolls_each_person_once(clock, published):
    segment = vip_segment()
    members(5)
    campaign = make_journey({"kind": "broadcast", "segment": segment.pk, "repeat": "none"})
    [run_id] = broadcasts.journey_runs_start()
    broadcasts.journey_run_chunk(run_id, chunk=10)
    # The same run rewound (a chunk's progress lost after its enrollments committed).
    JourneyRun.objects.filter(pk=run_id).update(last_profile_id=0, finished_at=None)
    broadcasts.journey_run_chunk(run_id, chunk=10)
    assert Enrollment.objects.filter(campaign=campaign).count() == 5


def test_a_scheduled_weekly_broadcast_runs_at_each_occurrence(clock, published):
    segment = vip_segment()
    members(2)
    start = NOW + timedelta(hours=1)
    campaign = make_journey(
        {"kind": "broadcast", "segment": segment.pk, "start": start.isoformat(), "repeat": "weekly"}
    )
    assert broadcasts.journey_runs_start() == []  # not yet
    for week in range(3):
        later(clock, hours=1, weeks=week, minutes=5)
        [run_id] = broadcasts.journey_runs_start()
        while broadcasts.journey_run_chunk(run_id):
            pass
        assert JourneyRun.objects.get(pk=run_id).run_at == start + timedelta(weeks=week)
        run()
    assert Enrollment.objects.filter(campaign=campaign).count() == 6
    assert len(mail.outbox) == 6


def test_monthly_occurrences_keep_the_day_or_take_the_months_last():
    trigger = BroadcastTrigger(segment=1, repeat="monthly")
    start = datetime(2026, 1, 31, 9, 0, tzinfo=UTC)
    assert broadcasts.broadcast_due(trigger, start, datetime(2026, 2, 27, tzinfo=UTC)) == start
    assert broadcasts.broadcast_due(trigger, start, datetime(2026, 3, 1, tzinfo=UTC)) == datetime(
        2026, 2, 28, 9, 0, tzinfo=UTC
    )
    assert broadcasts.broadcast_due(
        trigger, start, datetime(2026, 4, 30, 9, tzinfo=UTC)
    ) == datetime(2026, 4, 30, 9, 0, tzinfo=UTC)
    assert broadcasts.add_months(date(2028, 1, 29), 1) == date(2028, 2, 29)


def test_weekly_occurrences_keep_the_local_time_across_a_clock_change(settings):
    settings.TIME_ZONE = "Europe/Paris"
    paris = zoneinfo.ZoneInfo("Europe/Paris")
    trigger = BroadcastTrigger(segment=1, repeat="weekly")
    start = datetime(2026, 10, 19, 9, 0, tzinfo=paris)  # summer time
    due = broadcasts.broadcast_due(trigger, start, datetime(2026, 10, 26, 12, tzinfo=UTC))
    assert due is not None and due.astimezone(paris).hour == 9


def test_a_broadcast_to_a_deleted_segment_is_refused_and_fails_clearly(clock, published):
    segment = vip_segment()
    members(3)
    definition = {
        **template_definition("blank"),
        "trigger": {"kind": "broadcast", "segment": segment.pk + 1000, "repeat": "none"},
    }
    assert any("does not exist" in problem for problem in journey_problems(definition))
    campaign = make_journey({"kind": "broadcast", "segment": segment.pk, "repeat": "none"})
    [run_id] = broadcasts.journey_runs_start()
    # The segment cannot be deleted while the journey runs on it; gone all the same (the
    # guard off, as a database edit by hand would), the run fails clearly.
    from django.db.models import ProtectedError
    from django.db.models.signals import pre_delete

    from campaigns.signals import segment_delete_guard
    from segments.models import Segment

    with pytest.raises(ProtectedError), transaction.atomic():
        segment.delete()
    pre_delete.disconnect(segment_delete_guard, sender=Segment, dispatch_uid="journey-segments")
    try:
        segment.delete()
    finally:
        pre_delete.connect(segment_delete_guard, sender=Segment, dispatch_uid="journey-segments")
    assert broadcasts.journey_run_chunk(run_id) is False
    failed = JourneyRun.objects.get(pk=run_id)
    assert "was deleted" in failed.error
    assert failed.finished_at is not None
    assert not Enrollment.objects.filter(campaign=campaign).exists()


def test_a_paused_broadcast_holds_its_run_until_activated_again(clock, published):
    segment = vip_segment()
    members(3)
    campaign = make_journey({"kind": "broadcast", "segment": segment.pk, "repeat": "none"})
    [run_id] = broadcasts.journey_runs_start()
    campaign_status_set(actor=ACTOR, campaign=campaign, status=Campaign.Status.PAUSED)
    assert broadcasts.journey_run_chunk(run_id) is False
    assert not Enrollment.objects.filter(campaign=campaign).exists()
    campaign_status_set(actor=ACTOR, campaign=campaign, status=Campaign.Status.ACTIVE)
    later(clock, minutes=5)
    assert broadcasts.journey_runs_start() == [run_id]
    broadcasts.journey_run_chunk(run_id)
    assert Enrollment.objects.filter(campaign=campaign).count() == 3


def test_a_broadcast_respects_consent_at_the_send(clock, published):
    segment = vip_segment()
    members(2)
    members_without = Profile.objects.create(
        user_id="nope", email="nope@example.com", traits={"tier": "vip"}
    )
    make_journey({"kind": "broadcast", "segment": segment.pk, "repeat": "none"})
    [run_id] = broadcasts.journey_runs_start()
    broadcasts.journey_run_chunk(run_id)
    run()
    assert len(mail.outbox) == 2
    assert Enrollment.objects.get(profile=members_without).state == Enrollment.State.SUPPRESSED


def test_an_activity_batch_touching_nobody_in_a_watched_segment_publishes_nothing(
    ingest, clock, published
):
    send(ingest, track("ann", "Page Viewed"))
    assert published == []
