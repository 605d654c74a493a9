"""The threads an inbound worker runs over the inbound lanes (chatpad/lanes.py): consumers that process the ids they
pop (threaded workers), or a dispatcher that turns them into RQ jobs (fork and simple workers)."""

from __future__ import annotations

import logging
import threading

from flask import Flask

from chatpad.lanes import (
    EVENTS_PER_JOB,
    RECEIPTS_KEY,
    RECEIPTS_LINGER,
    RECEIPTS_PER_BATCH,
    dispatch_pending,
    pop_pending,
)

log = logging.getLogger("chatpad.dispatch")


def _run_until(app: Flask, stop: threading.Event, step, name: str) -> threading.Thread:
    def loop() -> None:
        with app.app_context():
            while not stop.is_set():
                try:
                    step()
                except Exception:  # Redis restarting: wait and go on; the sweeper covers anything missed
                    log.warning("%s: Redis unavailable, retrying", name, exc_info=True)
                    stop.wait(1)

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    return thread


def start_dispatcher(app: Flask, stop: threading.Event) -> list[threading.Thread]:
    """Run a dispatcher thread until stop is set (fork and simple inbound workers)."""
    return [_run_until(app, stop, lambda: dispatch_pending(block=1), "chatpad-dispatcher")]


def start_consumers(app: Flask, stop: threading.Event, count: int) -> list[threading.Thread]:
    """Run count consumer threads for messages and one for receipts until stop is set; each finishes the batch in
    hand before it stops."""
    from jobs.inbound import process_events  # the worker's own job module, loaded with the app

    def step() -> None:
        ids = pop_pending(EVENTS_PER_JOB, block=1)
        if ids:
            process_events(ids)

    def receipts_step() -> None:
        ids = pop_pending(RECEIPTS_PER_BATCH, block=1, lanes=(RECEIPTS_KEY,))
        if ids:
            process_events(ids)
            if len(ids) < RECEIPTS_PER_BATCH:  # a backlog is drained at once; a trickle gathers first
                stop.wait(RECEIPTS_LINGER)

    threads = [_run_until(app, stop, step, f"chatpad-consumer-{n}") for n in range(count)]
    return [*threads, _run_until(app, stop, receipts_step, "chatpad-receipts")]
