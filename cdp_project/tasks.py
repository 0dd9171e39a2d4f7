from celery import shared_task

from cdp_project.heartbeats import WORKER, heartbeat_record


@shared_task(name="cdp.heartbeat", ignore_result=True)
def heartbeat() -> None:
    """Beat sends this every HEARTBEAT_SECONDS; a worker running it is a worker alive."""
    heartbeat_record(name=WORKER)
