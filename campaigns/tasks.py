"""Celery tasks of the campaign engine: beat runs the due work; nothing is scheduled ahead
with a countdown or ETA (those come back after a broker's visibility timeout and run twice)."""

from dataclasses import asdict

from celery import shared_task

from campaigns import broadcasts, engine, entries


@shared_task(name="campaigns.run_due", ignore_result=True)
def run_due() -> dict:
    """Decide and send every due enrollment; retry messages whose next attempt came."""
    return asdict(engine.campaigns_run_due())


@shared_task(name="campaigns.segment_entries", ignore_result=True)
def segment_entries(profile_ids: list[int]) -> int:
    """Check the people a processed batch touched against the segments journeys enter on."""
    return entries.segment_entries_detect(profile_ids)


@shared_task(name="campaigns.journeys_tick", ignore_result=True)
def journeys_tick() -> dict:
    """Segment entries a refresh recorded; broadcasts and date triggers that are due."""
    return broadcasts.journeys_tick()


@shared_task(name="campaigns.journey_run", ignore_result=True)
def journey_run(run_id: int) -> bool:
    """One chunk of a broadcast's or a date trigger's run."""
    return broadcasts.journey_run(run_id)
