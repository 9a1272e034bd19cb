from celery import shared_task


@shared_task(acks_late=True, max_retries=8)
def deliver_notification(notification_id: int) -> None:
    from .services import notification_deliver

    notification_deliver(notification_id=notification_id)
