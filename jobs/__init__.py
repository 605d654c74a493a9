"""RQ job entry points. Jobs are module-level functions that take ids, run inside an app context and commit.

The worker (jobs/worker.py) preloads the app before it starts taking jobs; a job run anywhere else (a test, a shell)
builds the app on first use.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask

_app: Flask | None = None
_lock = threading.Lock()


def set_app(app: Flask) -> None:
    """Use this app for every job in this process (the worker calls it at start)."""
    global _app
    _app = app


def get_app() -> Flask:
    global _app
    if _app is None:
        with _lock:
            if _app is None:
                from chatpad import create_app

                _app = create_app()
    return _app


@contextmanager
def app_context() -> Iterator[Flask]:
    """An app context for one job; the session is removed afterwards so no connection leaks between jobs."""
    app = get_app()
    with app.app_context():
        try:
            yield app
        finally:
            from chatpad.extensions import db

            db.session.remove()
