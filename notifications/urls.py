"""Inbox, mail viewer and outbox pages."""

urlpatterns: list = []
