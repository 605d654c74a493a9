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
def app_context(*, expire_on_commit: bool = True) -> Iterator[Flask]:
    """An app context for one job; the session is removed afterwards so no connection leaks between jobs.

    expire_on_commit=False is for the pipeline's hot jobs, which read everything another process may change with a
    fresh query, a conditional UPDATE or an explicit refresh: their session then keeps what it just wrote after each
    commit instead of reading every row back (several statements per commit otherwise)."""
    app = get_app()
    with app.app_context():
        if not expire_on_commit:
            from chatpad.extensions import db

            db.session().expire_on_commit = False
        try:
            yield app
        finally:
            from chatpad.extensions import db

            db.session.remove()
