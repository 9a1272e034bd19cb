"""How the board writes a promised time: clock time on the day, weekday within the week."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from incidents.templatetags.moments import from_now, moment

FRIDAY_EVENING = datetime(2026, 12, 4, 18, 34, tzinfo=UTC)


@pytest.fixture(autouse=True)
def berlin(settings):
    settings.TIME_ZONE = "Europe/Berlin"


@pytest.mark.parametrize(
    ("later", "words"),
    [
        (timedelta(minutes=11), "19:45 in 11 min"),
        (timedelta(days=2, hours=13, minutes=26), "Mon 09:00 in 2 d 13 h"),
        (timedelta(days=10), "14 Dec 19:34 in 10 d"),
        (timedelta(days=40), "13 Jan 2027 19:34 in 40 d"),  # another year: say which
        (timedelta(minutes=-25), "19:09 25 min ago"),
        # Midnight in Berlin is 23:00 UTC: the day is the reader's, not the server's.
        (timedelta(hours=4, minutes=36), "Sat 00:10 in 4 h 36 min"),
    ],
)
def test_a_time_reads_as_the_clock_on_the_day_and_how_far_off(later, words):
    with time_machine.travel(FRIDAY_EVENING, tick=False):
        at = FRIDAY_EVENING + later
        assert f"{moment(at)} {from_now(at)}" == words
