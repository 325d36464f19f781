"""A real certkb server (FastAPI + Gradio under uvicorn) on a loopback port, in a thread of the test process."""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from bot.server import create_app
from bot.service import Catalog, ChatService


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_server(service: ChatService, catalog: Catalog | None = None) -> Iterator[str]:
    """Serve `service` (with the others of `catalog`) and yield its base URL ("http://127.0.0.1:PORT/"); stops the
    server afterwards."""
    port = free_port()
    config = uvicorn.Config(create_app(service, catalog), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(url + "api/health", timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError("the certkb server did not start in 60 s") from None
            time.sleep(0.1)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)
