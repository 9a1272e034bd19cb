"""Pages for the support role."""

urlpatterns: list = []
