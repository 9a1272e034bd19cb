import os

import pytest
from django.db import connection

from incidents.roles import FIRST_LEVEL_SUPPORT, INCIDENT_MANAGERS, IT_OPERATIONS
from tests.factories import ServiceFactory, SupportGroupFactory, UserFactory

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def service_missing(reason: str) -> None:
    """Skip on a laptop without the service; fail in CI, where every service must run."""
    if REQUIRE_SERVICES:
        pytest.fail(f"REQUIRE_SERVICES=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture
def postgres(django_db_serialized_rollback, transactional_db):
    """A test that needs PostgreSQL's real row locks (SQLite serialises writers).

    Transactional tests empty every table afterwards, which would take the roles, the
    priority matrix and the SLA targets seeded by migrations with them; serialized
    rollback puts that data back before each such test."""
    if connection.vendor != "postgresql":
        service_missing(
            "needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/test"
        )
    return connection


@pytest.fixture
def initiator(db):
    return UserFactory(username="ivy", first_name="Ivy", last_name="Initiator")


@pytest.fixture
def other_initiator(db):
    return UserFactory(username="oscar", first_name="Oscar", last_name="Other")


@pytest.fixture
def support_user(db):
    return UserFactory(username="sam", first_name="Sam", roles=[FIRST_LEVEL_SUPPORT])


@pytest.fixture
def manager_user(db):
    return UserFactory(username="mia", first_name="Mia", roles=[INCIDENT_MANAGERS])


@pytest.fixture
def second_manager(db):
    return UserFactory(username="max", first_name="Max", roles=[INCIDENT_MANAGERS])


@pytest.fixture
def operations_user(db):
    return UserFactory(username="otto", first_name="Otto", roles=[IT_OPERATIONS])


@pytest.fixture
def service(db):
    desk = SupportGroupFactory(name="Service desk", level=1)
    SupportGroupFactory(name="Application support", level=2)
    SupportGroupFactory(name="Platform engineering", level=3)
    return ServiceFactory(name="E-mail", default_group=desk)
