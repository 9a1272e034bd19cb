"""Periodic work of the incidents app; each task is thin and calls a service."""

from celery import shared_task


@shared_task(name="incidents.sla_monitor", ignore_result=True)
def sla_monitor() -> None:
    """Every minute (CELERY_BEAT_SCHEDULE): act on SLA thresholds and breaches now due."""
    from incidents.services.sla_monitor import sla_monitor_run

    sla_monitor_run()
