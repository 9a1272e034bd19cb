"""Where links in e-mails point when SITE_URL is not set: where this server listens."""

import socket


def site_url_for(addrport: str) -> str:
    """`127.0.0.1:8010` → `http://127.0.0.1:8010`. A wildcard address is no place to send
    anyone; this machine's name is."""
    host = addrport if ":" in addrport else f"127.0.0.1:{addrport}"
    name, _, port = host.rpartition(":")
    if name in ("0.0.0.0", "[::]", "::"):
        name = socket.gethostname()
    return f"http://{name}:{port}"
