"""Pages for the initiator role."""

urlpatterns: list = []
