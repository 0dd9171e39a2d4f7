"""Celery tasks of the campaign engine: beat runs the due work; nothing is scheduled ahead
with a countdown or ETA (those come back after a broker's visibility timeout and run twice)."""

from dataclasses import asdict

from celery import shared_task

from campaigns import engine


@shared_task(name="campaigns.run_due", ignore_result=True)
def run_due() -> dict:
    """Decide and send every due enrollment; retry messages whose next attempt came."""
    return asdict(engine.campaigns_run_due())
