"""Django's ModelBackend, reading a user's permissions in one query instead of two.

Every staff page asks for permissions (the role check, the navigation), and the stock
backend reads the user's own permissions and their groups' permissions in two queries.
The roles here are groups (incidents.roles), so both halves come back in one UNION.
"""

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission


class OneQueryModelBackend(ModelBackend):
    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            fields = ("content_type__app_label", "codename")
            if user_obj.is_superuser:
                rows = Permission.objects.values_list(*fields)
            else:
                own = Permission.objects.filter(user=user_obj).values_list(*fields)
                via_groups = Permission.objects.filter(group__user=user_obj).values_list(*fields)
                rows = own.order_by().union(via_groups.order_by())
            user_obj._perm_cache = {f"{app}.{codename}" for app, codename in rows}
        return user_obj._perm_cache
