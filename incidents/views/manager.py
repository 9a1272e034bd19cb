"""Pages for the manager role."""

urlpatterns: list = []
