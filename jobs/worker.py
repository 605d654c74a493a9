"""The worker: `python -m jobs.worker [queues…] [--burst] [--worker-class fork|simple|threaded] [--threads N]`.

It builds the app once (config, mappers, Redis) before taking jobs, so each job starts warm. Run any number of
these on any number of machines against one Redis and one database; that is how ChatPad scales out. The RQ
scheduler runs inside (--with-scheduler) so retries with backoff and delayed jobs fire.

Worker classes: fork (RQ's Worker: one job at a time, each in a forked work horse), simple (in-process, one at a
time) and threaded (jobs/threaded.py: up to --threads jobs at once, default AI_CONCURRENCY). The default, auto:

- threaded for any worker without the outbound queue: inbound, ai, mail and default jobs mostly wait on the network
  (the model, Graph, IMAP) and are idempotent, so one process keeps many going, with no fork per job;
- simple for a worker that serves only outbound: one job at a time, without paying a fork per send; scale sends with
  more processes. Whatever the class, a process holds one send at a time (chatpad.pipeline.replies.SENDING: the ai
  worker sends the replies it composed under it too), so a worker killed mid-send leaves at most one message whose
  fate is unknown (docs/reliability.md: duplicate sends <= kills);
- fork when outbound shares a worker with other queues (one job at a time, each in a fresh work horse), and for
  platform queues on SQLite, the embedded development database, which takes one writer at a time.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import redis
from rq import SimpleWorker, Worker
from rq.exceptions import StopRequested
from sqlalchemy.orm import configure_mappers

from chatpad import create_app
from chatpad.lanes import dispatch_pending
from chatpad.queue import QUEUE_NAMES, get_queue, get_redis
from config import config_from_env
from jobs import app_context, set_app
from jobs.consumers import start_consumers, start_dispatcher
from jobs.threaded import ThreadedWorker


class HeartbeatGrace:
    """How long a running job's heartbeat stays valid: RQ's default is the monitoring interval + 60 s; ours is
    WORKER_HEARTBEAT_SECONDS + WORKER_HEARTBEAT_GRACE_SECONDS. A job whose worker was killed is "abandoned" once it
    lapses, and the sweeper (jobs.housekeeping) hands it back to RQ to retry."""

    heartbeat_grace: int = 60

    def get_heartbeat_ttl(self, job, working_time: float = 0.0) -> int:
        interval = self.job_monitoring_interval
        if job.timeout and job.timeout > 0:
            interval = min(job.timeout - working_time, interval)
        return int(interval) + self.heartbeat_grace


def _with_grace(cls):
    return type(cls.__name__, (HeartbeatGrace, cls), {"__module__": __name__})


log = logging.getLogger("chatpad.worker")

WORKER_CLASSES = {
    "fork": _with_grace(Worker),
    "simple": _with_grace(SimpleWorker),
    "threaded": _with_grace(ThreadedWorker),
}
ONE_AT_A_TIME_QUEUES = {"outbound"}


def choose_worker_class(queues: list[str], requested: str = "auto", *, sqlite: bool = False) -> str:
    """auto (see the module docstring): threaded without outbound, simple for outbound alone, fork for a mix. On
    SQLite (the embedded development default: one writer at a time) platform jobs run one at a time too."""
    if requested != "auto":
        return requested
    names = set(queues)
    if names <= ONE_AT_A_TIME_QUEUES:
        return "simple"
    if names & ONE_AT_A_TIME_QUEUES or (sqlite and names - {"ai"}):
        return "fork"
    return "threaded"


@contextmanager
def _job_context() -> Iterator[None]:
    """Each job thread: its own app context and DB session, removed when the job ends."""
    with app_context():
        yield


# The job modules each queue runs. RQ imports a job's function where the job runs: in a fork worker that is a
# freshly forked work horse, so whatever the parent has not imported, every single job imports again (measured by
# bench/pipeline_e2e.py: ~0.25 s per inbound job and ~0.5 s per AI job before this, a few ms after).
QUEUE_MODULES = {
    "inbound": ("jobs.inbound",),
    "ai": ("jobs.replies", "chatpad.ai"),
    "outbound": ("jobs.replies",),
    "mail": ("jobs.mail", "jobs.alerts"),
    "default": ("jobs.housekeeping", "jobs.accounts", "jobs.privacy"),
}


def preload(queues: list[str]) -> None:
    """Import the queues' job modules and build every channel adapter once, before any work horse is forked."""
    from importlib import import_module

    from chatpad.channels import CHANNELS, get_channel

    for queue in queues:
        for module in QUEUE_MODULES.get(queue, ()):
            import_module(module)
    for key in list(CHANNELS):
        get_channel(key)


def build_worker(
    queues: list[str], worker_class: str = "auto", name: str | None = None, threads: int | None = None, **options
):
    """A worker for the given queues, with the app preloaded."""
    config = config_from_env()
    sqlite = config.SQLALCHEMY_DATABASE_URI.startswith("sqlite")
    worker_class = choose_worker_class(queues, worker_class, sqlite=sqlite)
    overrides = {}
    if worker_class == "threaded":
        threads = threads or config.AI_CONCURRENCY
        # Every thread may hold a pooled connection at once: size the pool for them instead of timing out.
        consumers = config.INBOUND_CONSUMERS + 1 if "inbound" in queues else 0  # and the receipts consumer
        overrides["SQLALCHEMY_ENGINE_OPTIONS"] = {
            **config.SQLALCHEMY_ENGINE_OPTIONS,
            "pool_size": max(5, threads + consumers),
            "max_overflow": 10,
        }
    app = create_app(**overrides)
    set_app(app)
    sys.setswitchinterval(app.config["WORKER_SWITCH_INTERVAL"])
    with app.app_context():
        configure_mappers()
        connection = get_redis()
        rq_queues = [get_queue(q) for q in queues]
        preload(queues)
    cls = WORKER_CLASSES[worker_class]
    options.setdefault("job_monitoring_interval", int(app.config["WORKER_HEARTBEAT_SECONDS"]))
    if worker_class == "fork":
        # The forked work horse must not reuse the parent's database connections.
        from chatpad.extensions import db

        with app.app_context():
            db.engine.dispose()
    if worker_class == "threaded":
        worker = cls(rq_queues, connection=connection, name=name, threads=threads, job_context=_job_context, **options)
    else:
        worker = cls(rq_queues, connection=connection, name=name, **options)
    worker.heartbeat_grace = int(app.config["WORKER_HEARTBEAT_GRACE_SECONDS"])
    return app, worker


REDIS_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def wait_for_redis(connection, stop: threading.Event | None = None) -> None:
    """Block until Redis answers (backing off to 30 s between tries)."""
    delay = 1.0
    while not (stop is not None and stop.is_set()):
        try:
            connection.ping()
            return
        except REDIS_ERRORS as exc:
            log.warning("Redis unavailable (%s); retrying in %.0f s", exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, 30.0)


def main(argv: list[str] | None = None) -> None:
    """Run a worker until asked to stop. A Redis outage does not end it: RQ's work loop quits on most Redis errors
    (and its in-worker scheduler dies), so the worker waits for Redis and starts a fresh one — what a process manager
    would do, without depending on one. The sweeper re-queues whatever Redis lost."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("queues", nargs="*", default=list(QUEUE_NAMES), help="queues in priority order")
    parser.add_argument("--burst", action="store_true", help="quit when the queues are empty")
    parser.add_argument("--worker-class", choices=["auto", *sorted(WORKER_CLASSES)], default="auto")
    parser.add_argument("--threads", type=int, default=None, help="threaded: jobs at once (default AI_CONCURRENCY)")
    parser.add_argument("--name", default=None)
    args = parser.parse_args(argv)
    # LOG_LEVEL as in the web process (config.py); RQ logs every job at INFO.
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    takers: list[threading.Thread] = []  # the threads taking stored events off the list (dispatch.py)
    try:
        for run in itertools.count():
            name = args.name if run == 0 or args.name is None else f"{args.name}-{run}"
            try:  # RQ's Worker talks to Redis as it is created
                app, worker = build_worker(args.queues, args.worker_class, name, threads=args.threads)
                if "inbound" in args.queues and not takers:
                    if isinstance(worker, ThreadedWorker) and not args.burst:
                        # Threaded: consumer threads pull events in batches, with no RQ job per event.
                        takers = start_consumers(app, stop, int(app.config["INBOUND_CONSUMERS"]))
                    else:
                        with app.app_context():
                            dispatch_pending()  # what was announced while no worker ran
                        takers = start_dispatcher(app, stop)
            except REDIS_ERRORS as exc:
                log.warning("Redis unavailable (%s); retrying in 2 s", exc)
                time.sleep(2)
                continue
            try:
                worker.work(burst=args.burst, with_scheduler=True, logging_level=level)
            except REDIS_ERRORS:
                log.warning("worker %s lost Redis", worker.name, exc_info=True)
            # A SIGTERM/SIGINT sets the shutdown date (RQ sets _stop_requested only when it arrives mid-job).
            if args.burst or worker._stop_requested or getattr(worker, "_shutdown_requested_date", None):
                break
            log.warning("worker %s stopped without being asked to (Redis lost?); starting a fresh one", worker.name)
            time.sleep(1)
    except (KeyboardInterrupt, StopRequested):
        pass
    finally:
        stop.set()
        for thread in takers:  # a consumer finishes the batch in hand (a few seconds at most)
            thread.join(timeout=30)


if __name__ == "__main__":
    main()
