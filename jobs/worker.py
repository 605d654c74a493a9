"""The worker: `python -m jobs.worker [queues…] [--burst]`.

It builds the app once (config, mappers, Redis) before taking jobs, so each job starts warm. Run any number of
these on any number of machines against one Redis and one database; that is how ChatPad scales out. The RQ
scheduler runs inside (--with-scheduler) so retries with backoff and delayed jobs fire.
"""

from __future__ import annotations

import argparse
import logging
import threading

from rq import SimpleWorker, Worker
from sqlalchemy.orm import configure_mappers

from chatpad import create_app
from chatpad.pipeline.dispatch import dispatch_pending, start_dispatcher
from chatpad.queue import QUEUE_NAMES, get_queue, get_redis
from jobs import set_app

WORKER_CLASSES = {"fork": Worker, "simple": SimpleWorker}


def build_worker(queues: list[str], worker_class: str = "fork", name: str | None = None):
    """A worker for the given queues, with the app preloaded."""
    app = create_app()
    set_app(app)
    with app.app_context():
        configure_mappers()
        connection = get_redis()
        rq_queues = [get_queue(q) for q in queues]
    cls = WORKER_CLASSES[worker_class]
    if worker_class == "fork":
        # The forked work horse must not reuse the parent's database connections.
        from chatpad.extensions import db

        with app.app_context():
            db.engine.dispose()
    return app, cls(rq_queues, connection=connection, name=name)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("queues", nargs="*", default=list(QUEUE_NAMES), help="queues in priority order")
    parser.add_argument("--burst", action="store_true", help="quit when the queues are empty")
    parser.add_argument("--worker-class", choices=sorted(WORKER_CLASSES), default="fork")
    parser.add_argument("--name", default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app, worker = build_worker(args.queues, args.worker_class, args.name)
    stop = threading.Event()
    if "inbound" in args.queues:
        with app.app_context():
            dispatch_pending()  # what was announced while no worker ran
        start_dispatcher(app, stop)
    try:
        worker.work(burst=args.burst, with_scheduler=True, logging_level="INFO")
    finally:
        stop.set()


if __name__ == "__main__":
    main()
