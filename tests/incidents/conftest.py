import pytest

from tests.factories import UserFactory

from .states import Cast


@pytest.fixture
def superuser(db):
    user = UserFactory(username="root", first_name="Rita")
    user.is_superuser = True
    user.is_staff = True
    user.save(update_fields=["is_superuser", "is_staff"])
    return user


@pytest.fixture
def cast(
    initiator, other_initiator, support_user, manager_user, second_manager, operations_user,
    superuser, service,
) -> Cast:  # fmt: skip
    return Cast(
        initiator=initiator, other_initiator=other_initiator, support=support_user,
        manager=manager_user, second_manager=second_manager, operations=operations_user,
        superuser=superuser, service=service,
    )  # fmt: skip
