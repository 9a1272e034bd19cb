"""The project's Celery app: settings come from Django's, under the CELERY_ prefix."""

import os

from celery import Celery, signals
from kombu.transport import sqlalchemy as kombu_sqlalchemy

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "escalation_portal.settings")

# kombu's SQLAlchemy transport (the embedded broker) sleeps `polling_interval` whenever the
# worker's prefetch window is full. With acks_late and a prefetch of one task per process,
# that means a one-second pause after every two tasks, about 2 tasks/s. The usual setting,
# broker_transport_options["polling_interval"], would also be passed on to create_engine()
# and fail there, so it is set on the transport class. Redis does not poll and is unaffected.
kombu_sqlalchemy.Transport.polling_interval = 0.05

app = Celery("escalation_portal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.task_prerun.connect
@signals.task_postrun.connect
def _close_old_db_connections(**kwargs) -> None:
    """What Django does around each request: drop a connection that is broken, older than
    CONN_MAX_AGE or left in a failed state, keep a healthy one (CELERY_DB_REUSE_MAX)."""
    task = kwargs.get("task")
    if task is not None and task.request.is_eager:  # inside the caller's transaction
        return
    from django.db import close_old_connections

    close_old_connections()


@signals.worker_process_shutdown.connect
def _close_mail_lanes(**kwargs) -> None:
    """A pool child leaving says goodbye to the mail server and the database (QUIT and a
    closed connection instead of a dropped socket)."""
    from notifications.sessions import lanes_close

    lanes_close()
