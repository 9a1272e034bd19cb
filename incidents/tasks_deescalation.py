"""Beat and delivery tasks for deescalation and major incidents: thin, each calls a service.

Imported by IncidentsConfig.ready(), since Celery's autodiscovery only finds `tasks`."""

from celery import shared_task


@shared_task(acks_late=True)
def deescalation_reminders() -> dict:
    """The monitor: overdue activities, due updates, unacknowledged majors; stakeholder
    e-mails still pending. Exactly once per due moment however often it runs."""
    from incidents.services.major_incidents import stakeholder_notices_sweep
    from incidents.services.reminders import reminders_run

    run = reminders_run()
    return {
        "activities_overdue": run.activities_overdue,
        "updates_due": run.updates_due,
        "acknowledgements_overdue": run.acknowledgements_overdue,
        "stakeholder_emails": stakeholder_notices_sweep(),
    }


@shared_task(acks_late=True, max_retries=8)
def stakeholder_notice_deliver(notice_id: int) -> None:
    from incidents.services.major_incidents import stakeholder_notice_deliver as deliver

    deliver(notice_id=notice_id)
