"""Housekeeping of the embedded broker.

kombu's SQLAlchemy transport marks a delivered message invisible and never deletes it, so
the broker's SQLite file grows by every task ever sent. Beat runs `broker_housekeeping`
to delete delivered rows older than an hour. With Redis (or any other broker) it does
nothing: Redis removes what it delivers.
"""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from celery import current_app, shared_task

# kombu's default table name; we never set `message_tablename` in the transport options.
MESSAGE_TABLE = sa.table(
    "kombu_message",
    sa.column("id", sa.Integer),
    sa.column("visible", sa.Boolean),
    sa.column("timestamp", sa.DateTime),
)


def broker_prune(*, broker_url: str, older_than: timedelta = timedelta(hours=1)) -> int:
    """Delete delivered messages older than `older_than` from a `sqla+` broker; return how many.

    A message still waiting (visible) is never touched. A message taken by a worker but not
    acknowledged is safe too: kombu puts it back as a new row when the worker is lost.
    """
    if not broker_url.startswith("sqla+"):
        return 0
    engine = sa.create_engine(broker_url.removeprefix("sqla+"))
    try:
        if not sa.inspect(engine).has_table(MESSAGE_TABLE.name):
            return 0
        # kombu stamps delivery with naive local time (datetime.now), so compare in kind.
        cutoff = (datetime.now(UTC) - older_than).astimezone().replace(tzinfo=None)
        with engine.begin() as connection:
            result = connection.execute(
                sa.delete(MESSAGE_TABLE).where(
                    MESSAGE_TABLE.c.visible.is_(False), MESSAGE_TABLE.c.timestamp < cutoff
                )
            )
        return result.rowcount
    finally:
        engine.dispose()


@shared_task(ignore_result=True)
def broker_housekeeping() -> int:
    # The broker the worker really uses: Celery lets CELERY_BROKER_URL in the environment win.
    return broker_prune(broker_url=current_app.conf.broker_url)
