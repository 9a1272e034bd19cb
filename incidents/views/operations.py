"""Pages for the operations role."""

urlpatterns: list = []
