from celery import shared_task

from ingestion import retention, rollups, services


@shared_task(name="ingestion.process_events", ignore_result=True)
def process_events(event_ids: list[int]) -> int:
    return services.events_process(event_ids=event_ids)


@shared_task(name="ingestion.sweep_unprocessed_events", ignore_result=True)
def sweep_unprocessed_events() -> int:
    return services.events_sweep_unprocessed()


@shared_task(name="ingestion.prune_refusals", ignore_result=True)
def prune_refusals() -> int:
    return services.refusals_prune()


@shared_task(name="ingestion.event_hours_refresh", ignore_result=True)
def event_hours_refresh() -> int:
    return rollups.event_hours_refresh()


@shared_task(name="ingestion.apply_event_retention", ignore_result=True)
def apply_event_retention() -> int:
    return retention.events_retention_apply()
