"""The embedded broker does not grow forever: delivered messages are pruned, waiting ones kept."""

from datetime import timedelta

import sqlalchemy as sa
from kombu import Connection

from escalation_portal.tasks import broker_prune


def _rows(engine) -> list[tuple[str, bool]]:
    with engine.connect() as connection:
        return [
            (payload, bool(visible))
            for payload, visible in connection.execute(
                sa.text("SELECT payload, visible FROM kombu_message ORDER BY id")
            )
        ]


def test_delivered_messages_older_than_an_hour_are_deleted(tmp_path):
    url = f"sqla+sqlite:///{tmp_path / 'broker.sqlite3'}"
    with Connection(url) as connection:
        queue = connection.SimpleQueue("celery")
        for body in ("delivered long ago", "delivered just now", "still waiting"):
            queue.put(body)
        for _ in range(2):
            queue.get(timeout=5).ack()
        queue.close()
    engine = sa.create_engine(url.removeprefix("sqla+"))
    with engine.begin() as connection:  # the first delivery happened two hours ago
        connection.execute(
            sa.text(
                "UPDATE kombu_message SET timestamp = datetime(timestamp, '-2 hours') "
                "WHERE id = (SELECT MIN(id) FROM kombu_message)"
            )
        )

    assert broker_prune(broker_url=url) == 1

    remaining = _rows(engine)
    assert len(remaining) == 2
    assert not any("delivered long ago" in payload for payload, _ in remaining)
    assert [visible for _, visible in remaining] == [False, True]
    engine.dispose()


def test_other_brokers_are_left_alone():
    # Nothing listens on this port: a prune that tried to connect would fail.
    assert broker_prune(broker_url="redis://127.0.0.1:1/0", older_than=timedelta(0)) == 0


def test_a_broker_file_without_messages_yet_is_fine(tmp_path):
    assert broker_prune(broker_url=f"sqla+sqlite:///{tmp_path / 'empty.sqlite3'}") == 0
