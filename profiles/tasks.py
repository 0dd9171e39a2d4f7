from celery import shared_task

from profiles import computed


@shared_task(name="profiles.rfm_refresh", ignore_result=True)
def rfm_refresh() -> int:
    return computed.profiles_rfm_refresh()


@shared_task(name="profiles.engagement_decay", ignore_result=True)
def engagement_decay() -> int:
    return computed.profiles_engagement_decay()


@shared_task(name="profiles.engagement_points_changed", ignore_result=True)
def engagement_points_changed(activity_ids: list[int]) -> int:
    return computed.engagement_points_changed(activity_ids=activity_ids)
