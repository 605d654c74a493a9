"""The sandbox (chatpad/sandbox/) served over real HTTP for the whole session; the app fixture points its platform
URLs at it, so ChatPad's clients talk to it exactly as they would to Meta."""

from __future__ import annotations

import threading

import pytest
from werkzeug.serving import make_server

from chatpad.sandbox import create_sandbox_app
from config import TestConfig


@pytest.fixture(scope="session")
def sandbox_server():
    """The sandbox app on a free port in a thread; .url is its base URL, .app the Flask app (its state)."""
    app = create_sandbox_app(TestConfig, PUBLIC_URL="")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="sandbox-server", daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_port}"
    server.app = app
    yield server
    server.shutdown()
