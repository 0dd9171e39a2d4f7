from celery import shared_task

from ingestion import services


@shared_task(name="ingestion.process_events", ignore_result=True)
def process_events(event_ids: list[int]) -> int:
    return services.events_process(event_ids=event_ids)


@shared_task(name="ingestion.sweep_unprocessed_events", ignore_result=True)
def sweep_unprocessed_events() -> int:
    return services.events_sweep_unprocessed()


@shared_task(name="ingestion.prune_refusals", ignore_result=True)
def prune_refusals() -> int:
    return services.refusals_prune()
