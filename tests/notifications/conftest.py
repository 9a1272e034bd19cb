"""A real SMTP server for the delivery tests."""

import socket
from email import message_from_bytes
from email.policy import default

import pytest


@pytest.fixture
def smtp_server(settings):
    """A real SMTP server (aiosmtpd) on loopback that remembers each session it served."""
    import time

    from aiosmtpd.controller import Controller

    from notifications.sessions import lanes_close

    class Handler:
        def __init__(self) -> None:
            self.sessions: list = []  # the server side of each message's SMTP session
            self.messages: list = []  # each message as the server received it
            self.answers: dict[str, str] = {}  # subject fragment -> the answer instead of 250

        async def handle_DATA(self, server, session, envelope):
            message = message_from_bytes(envelope.content, policy=default)
            for fragment, answer in self.answers.items():
                if fragment in message["Subject"]:
                    return answer
            self.sessions.append(server)
            self.messages.append(message)
            return "250 OK"

    handler = Handler()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""

    def drop_sessions():
        for server in set(handler.sessions):
            if server.transport is not None:  # still open
                controller.loop.call_soon_threadsafe(server.transport.close)
        time.sleep(0.2)

    handler.drop_sessions = drop_sessions
    yield handler
    lanes_close()  # and their database connections, or the test database stays in use
    controller.stop()
