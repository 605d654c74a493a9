"""The scheduler: `python -m jobs.scheduler`. RQ's cron scheduler enqueues the periodic jobs listed here.

Run one (two would enqueue every job twice; each job is idempotent, so that costs only work).
"""

from __future__ import annotations

import logging
import time

from rq.cron import CronScheduler
from rq.exceptions import StopRequested

from chatpad import create_app
from chatpad.queue import get_redis

# (dotted function path, queue, interval seconds or the name of the config setting that holds it). Jobs fan out per
# account themselves where that matters.
PERIODIC_JOBS: list[tuple[str, str, int | str]] = [
    ("jobs.housekeeping.heartbeat", "default", 60),
    ("jobs.housekeeping.sweep", "default", "SWEEP_INTERVAL_SECONDS"),
    ("jobs.privacy.run_retention", "default", 24 * 3600),
    ("jobs.privacy.sweep", "default", 600),
    # Email: each run queues one sync per due inbox, and refreshes expiring OAuth tokens.
    ("jobs.mail.sync_all_inboxes", "mail", 60),
    ("jobs.mail.refresh_mail_tokens", "mail", 300),
    # Accounts (docs/connecting.md): hourly fan-outs; each Meta account is health-checked once per
    # ACCOUNT_HEALTH_INTERVAL (a day), and Instagram Login tokens are refreshed well before they expire.
    ("jobs.accounts.check_accounts_health", "default", 3600),
    ("jobs.accounts.refresh_expiring_tokens", "default", 3600),
    # Calendars (docs/booking.md): OAuth tokens refreshed before they expire, each calendar health-checked once per
    # CALENDAR_HEALTH_INTERVAL, and tour reminders (24 h and 1 h before) sent as they come due.
    ("jobs.booking.refresh_calendar_tokens", "default", 300),
    ("jobs.booking.check_calendars", "default", 600),
    ("jobs.reminders.send_due_reminders", "default", 120),
]


def build_scheduler() -> CronScheduler:
    """A cron scheduler with every periodic job registered."""
    from importlib import import_module

    app = create_app()
    with app.app_context():
        connection = get_redis()
    scheduler = CronScheduler(connection=connection, logging_level="INFO")
    for path, queue, interval in PERIODIC_JOBS:
        if isinstance(interval, str):
            interval = int(app.config[interval])
        module_name, _, func_name = path.rpartition(".")
        func = getattr(import_module(module_name), func_name)
        scheduler.register(func, queue_name=queue, interval=interval, job_timeout=600)
    return scheduler


def main() -> None:
    """Run the scheduler until asked to stop. RQ's cron loop dies on a Redis error; this one waits for Redis and
    starts again (the periodic jobs are idempotent, so a tick missed or repeated costs nothing)."""
    import redis

    from jobs.worker import REDIS_ERRORS, wait_for_redis

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("chatpad.scheduler")
    try:
        while True:
            try:
                scheduler = build_scheduler()
                wait_for_redis(scheduler.connection)
                scheduler.start()  # returns on SIGTERM/SIGINT
                return
            except REDIS_ERRORS:
                log.warning("scheduler lost Redis; waiting for it", exc_info=True)
            except redis.exceptions.RedisError:
                log.exception("scheduler stopped on a Redis error; starting again")
            time.sleep(1)
    except (KeyboardInterrupt, StopRequested):
        pass


if __name__ == "__main__":
    main()
