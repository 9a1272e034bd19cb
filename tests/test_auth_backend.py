"""The permission backend: the same answers as Django's ModelBackend, in one query."""

import pytest
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from escalation_portal.auth_backends import OneQueryModelBackend
from incidents.roles import FIRST_LEVEL_SUPPORT, INCIDENT_MANAGERS
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def fresh(user):
    return type(user).objects.get(pk=user.pk)  # no permission cache yet


def test_own_and_group_permissions_in_one_query():
    user = UserFactory(roles=[FIRST_LEVEL_SUPPORT, INCIDENT_MANAGERS])
    user.user_permissions.add(Permission.objects.get(codename="operate_major"))
    user = fresh(user)
    with CaptureQueriesContext(connection) as queries:
        perms = OneQueryModelBackend().get_all_permissions(user)
        assert user.has_perm("incidents.check_entitlement")  # answered from the cache
    assert len(queries) == 1
    assert perms == ModelBackend().get_all_permissions(fresh(user))
    assert {"incidents.check_entitlement", "incidents.approve_plan"} <= perms
    assert "incidents.operate_major" in perms  # the user's own, outside any role


def test_a_user_without_roles_has_none_and_an_inactive_one_has_none():
    assert OneQueryModelBackend().get_all_permissions(fresh(UserFactory())) == set()
    user = UserFactory(roles=[FIRST_LEVEL_SUPPORT], is_active=False)
    assert not fresh(user).has_perm("incidents.check_entitlement")


def test_a_superuser_has_every_permission():
    user = UserFactory(is_superuser=True)
    assert (
        len(OneQueryModelBackend().get_all_permissions(fresh(user))) == Permission.objects.count()
    )
