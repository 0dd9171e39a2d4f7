from dataclasses import asdict

from celery import shared_task

from segments import membership


@shared_task(name="segments.refresh_all", ignore_result=True)
def refresh_all() -> int:
    return membership.segments_refresh_all()


@shared_task(name="segments.refresh", ignore_result=True)
def refresh(segment_id: int) -> dict | None:
    """Refresh one segment on demand; nothing to do when it was deleted meanwhile."""
    result = membership.segment_refresh(segment_id)
    return None if result is None else asdict(result)
