"""Pages for the staff role."""

urlpatterns: list = []
