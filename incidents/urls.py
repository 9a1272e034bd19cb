"""Incident pages, one module per role; each module lists its own urlpatterns."""

from .views import initiator, manager, operations, staff, support

urlpatterns = (
    initiator.urlpatterns
    + support.urlpatterns
    + manager.urlpatterns
    + operations.urlpatterns
    + staff.urlpatterns
)
