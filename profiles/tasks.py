from celery import shared_task

from profiles import computed, rights


@shared_task(name="profiles.rfm_refresh", ignore_result=True)
def rfm_refresh() -> int:
    return computed.profiles_rfm_refresh()


@shared_task(name="profiles.engagement_decay", ignore_result=True)
def engagement_decay() -> int:
    return computed.profiles_engagement_decay()


@shared_task(name="profiles.engagement_points_changed", ignore_result=True)
def engagement_points_changed(activity_ids: list[int]) -> int:
    return computed.engagement_points_changed(activity_ids=activity_ids)


@shared_task(name="profiles.apply_event_retention", ignore_result=True)
def apply_event_retention() -> int:
    return rights.events_retention_apply()
