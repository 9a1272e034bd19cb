"""Thin Celery tasks: delivery and the outbox sweeper. The logic lives in services."""

from celery import shared_task


# acks_late + reject_on_worker_lost: a pool child killed mid-send puts the task back on the
# queue instead of losing it. The redelivered task has the same id, so it takes back the rows
# the dead one had claimed (notifications.claims); rows already sent are left alone.
# Retries are not Celery's: the attempt count and the next due time live on the outbox row,
# so they survive a lost message and the sweeper respects them.
@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver_notification(self, notification_id: int, also: list[int] | None = None) -> None:
    from .services import notification_deliver

    notification_deliver(notification_id=notification_id, also=also or (), claimant=self.request.id)


@shared_task(acks_late=True, ignore_result=True)
def sweep_outbox() -> int:
    from .services import notification_sweep

    return notification_sweep()
