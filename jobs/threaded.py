"""A threaded RQ worker: one process runs many jobs at once, each in its own thread.

Made for the ai queue, whose jobs spend seconds waiting on a model's HTTP answer: a forking worker runs one such job
per process, this one runs `threads` of them. It is RQ's own BaseWorker with only execution changed, so the work
loop, queues, scheduler, maintenance, suspension, registries and result handling are RQ 3.0's:

- dispatch: the main thread waits for a free thread, dequeues one job, creates its Execution (StartedJobRegistry)
  and starts a thread that runs RQ's perform_job() (success, failure, retries, callbacks, results), inside
  `job_context` (ChatPad: an app context whose DB session is removed at the end);
- heartbeats: a heartbeat thread keeps the worker key and every running execution alive every
  job_monitoring_interval, also while the main thread is blocked in a long dequeue;
- timeouts without SIGALRM (signals only reach the main thread): ThreadDeathPenalty raises the job's
  JobTimeoutException inside its thread. Python delivers it at the next bytecode, so a thread stuck inside one C
  call (a socket read without a timeout) cannot be interrupted: after timeout + 60 s such a job is failed from the
  heartbeat thread (retried per its policy), its slot freed and its late result ignored;
- a job that raises fails like on any RQ worker; an error in the bookkeeping around it is logged and the thread
  ends, never the worker;
- SIGTERM/SIGINT: stop taking jobs, let the running ones finish, then exit (warm). A second signal interrupts them
  (they fail and are retried per their policy) and exits after a few seconds (cold). `rq` stop-job commands stop the
  job's thread the same way and mark it stopped.

Each job runs in a fresh thread, so an asynchronous exception aimed at one job can never land in the next one.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from rq.command import parse_payload
from rq.exceptions import StopRequested
from rq.executions import Execution
from rq.job import Job
from rq.queue import Queue
from rq.timeouts import BaseDeathPenalty, BaseTimeoutException, JobTimeoutException
from rq.utils import now
from rq.worker import BaseWorker, WorkerStatus

log = logging.getLogger("rq.worker")

HUNG_GRACE_SECONDS = 60  # as RQ's forking worker: kill (here: give up on) a job at timeout + 60 s
COLD_SHUTDOWN_GRACE_SECONDS = 5


def async_raise(thread_id: int, exc_class: type[BaseException] | None) -> bool:
    """Raise exc_class in another thread at its next bytecode (None clears a pending one). False if no such thread.

    https://docs.python.org/3/c-api/init.html#c.PyThreadState_SetAsyncExc — CPython takes a class, not an instance.
    """
    exc = ctypes.py_object(exc_class) if exc_class is not None else None
    changed = ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), exc)
    if changed > 1:  # never expected: undo, as the C API docs ask
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), None)
        raise SystemError("PyThreadState_SetAsyncExc affected more than one thread")
    return changed == 1


def _exception_with_message(exception: type[BaseException], message: str) -> type[BaseException]:
    """A subclass of `exception` that carries `message` (an asynchronous exception is raised from its class)."""

    def __init__(self, *args):  # noqa: N807
        exception.__init__(self, message)

    return type(exception.__name__, (exception,), {"__init__": __init__, "__module__": exception.__module__})


class ThreadDeathPenalty(BaseDeathPenalty):
    """Job timeouts for jobs running in threads: a timer raises the timeout exception in the job's own thread.

    Created and entered in the thread running the job (RQ's perform_job does). If the timer fires as the job is
    finishing, the pending exception is cleared on exit: a job that completed is not failed for its timeout.
    """

    def __init__(self, timeout, exception=JobTimeoutException, **kwargs):
        super().__init__(timeout, exception, **kwargs)
        self._thread_id = threading.get_ident()
        self._timer: threading.Timer | None = None
        self._lock = threading.Lock()
        self._state = "idle"
        self._raise = _exception_with_message(exception, f"Task exceeded maximum timeout value ({timeout} seconds)")

    def setup_death_penalty(self):
        if not self._timeout or self._timeout <= 0:  # -1: no timeout
            return
        with self._lock:
            self._state = "armed"
            self._timer = threading.Timer(self._timeout, self._fire)
            self._timer.daemon = True
            self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            if self._state != "armed":
                return
            self._state = "fired"
            async_raise(self._thread_id, self._raise)

    def cancel_death_penalty(self):
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            fired = self._state == "fired"
            self._state = "cancelled"
        if fired:
            # Raised already (the with-body ended with it) or still pending: clear a pending one. If it is delivered
            # before the clear, it surfaces here and BaseDeathPenalty.__exit__ ignores it, as RQ does for SIGALRM.
            async_raise(self._thread_id, None)


class JobStoppedError(Exception):
    """A `stop-job` command stopped this job while it ran in a thread."""


class WorkerShutdownError(Exception):
    """The worker was shut down cold while this job ran; it fails and is retried per its policy."""


@dataclass
class _Running:
    job: Job
    queue: Queue
    started: float = field(default_factory=time.monotonic)
    execution: Execution | None = None
    thread: threading.Thread | None = None


class ThreadedWorker(BaseWorker):
    """An RQ worker that runs up to `threads` jobs at once in one process (see the module docstring)."""

    death_penalty_class = ThreadDeathPenalty
    hung_grace = HUNG_GRACE_SECONDS

    def __init__(
        self,
        queues,
        *args,
        threads: int = 32,
        job_context: Callable[[], AbstractContextManager[Any]] | None = None,
        **kwargs,
    ):
        super().__init__(queues, *args, **kwargs)
        self.threads = max(1, int(threads))
        self._job_context = job_context or contextlib.nullcontext
        self._slots = threading.BoundedSemaphore(self.threads)
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._running: dict[int, _Running] = {}  # by id(record) until the execution exists
        self._abandoned: set[str] = set()  # execution ids given up on (hung threads)
        self._stopped_job_ids: set[str] = set()
        self._heartbeat_stop = threading.Event()
        self._heartbeat_thread: threading.Thread | None = None
        self._waiting = False  # the main thread is waiting for a job or a free thread
        self._cold = False
        self._suspension_checked = float("-inf")

    # --- what RQ asks of a worker ---

    def bootstrap(self, *args, **kwargs):
        super().bootstrap(*args, **kwargs)
        self.log.info("Worker %s: running up to %d jobs at once in threads", self.name, self.threads)
        self._heartbeat_stop.clear()
        self._heartbeat_thread = threading.Thread(target=self._heartbeat_loop, name="rq-heartbeat", daemon=True)
        self._heartbeat_thread.start()

    def dequeue_job_and_maintain_ttl(self, timeout: int | None, max_idle_time: int | None = None):
        """Wait for a free thread, then for a job. In burst mode (timeout None) an empty queue ends the work only
        once the running jobs are done, since they may enqueue more."""
        self._waiting = True
        try:
            while True:
                while not self._slots.acquire(timeout=1):
                    pass
                try:
                    result = super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
                except BaseException:
                    self._slots.release()
                    raise
                if result is not None:
                    return result
                self._slots.release()
                if timeout is not None:
                    return None  # idle too long (max_idle_time)
                with self._changed:
                    if not self._running:
                        return None
                    self._changed.wait(timeout=1)
        finally:
            self._waiting = False

    def check_for_suspension(self, burst: bool):
        """`rq suspend` is looked up at most once a second: RQ asks Redis before every dequeued job."""
        if time.monotonic() - self._suspension_checked < 1:
            return
        super().check_for_suspension(burst)
        self._suspension_checked = time.monotonic()

    def execute_job(self, job: Job, queue: Queue):
        """Start the job in a new thread and return at once (the slot was taken when it was dequeued)."""
        record = _Running(job=job, queue=queue)
        with self._lock:
            self._running[id(record)] = record
        try:
            record.execution = self.prepare_execution(job)
            record.thread = threading.Thread(target=self._run, args=(record,), name=f"rq-job-{job.id}", daemon=True)
            record.thread.start()
        except BaseException:
            self._finish(record)
            raise

    def _run(self, record: _Running) -> None:
        try:
            with self._job_context():
                self.perform_job(record.job, record.queue, record.execution)
        except BaseException:  # perform_job handles the job's own errors; this is the bookkeeping around it
            self.log.exception("Worker %s: thread for job %s failed", self.name, record.job.id)
        finally:
            self._finish(record)

    def _finish(self, record: _Running) -> None:
        with self._lock:
            ours = self._running.pop(id(record), None) is not None
            if record.execution is not None:
                self._abandoned.discard(record.execution.id)
            if ours:
                if not self._running:
                    with contextlib.suppress(Exception):
                        super().set_state(WorkerStatus.IDLE)
                self._slots.release()
            self._changed.notify_all()

    def set_state(self, state: str, pipeline=None):
        with self._lock:
            if state == WorkerStatus.IDLE and self._running:
                state = WorkerStatus.BUSY  # RQ sets idle before each dequeue; other jobs are still running
            if pipeline is None and state == self._state:
                return  # already recorded: no Redis call for each dequeued job
            super().set_state(state, pipeline)

    def heartbeat(self, timeout: int | None = None, pipeline=None):
        """RQ beats twice for every dequeued job, three Redis calls each: with many short jobs (the ai queue's) a tenth
        of this worker's time. The heartbeat thread beats every job_monitoring_interval anyway, so the work loop's
        beats are skipped within a second of the last one, and one that is due goes in a single round trip."""
        if pipeline is not None:
            return super().heartbeat(timeout, pipeline)
        last = self.last_heartbeat
        if timeout is None and last is not None and last.tzinfo is not None and (now() - last).total_seconds() < 1:
            return None
        with self.connection.pipeline(transaction=False) as pipe:
            super().heartbeat(timeout, pipe)
            pipe.execute()
        return None

    @property
    def execution(self) -> Execution | None:
        executions = list(self.executions.values())  # a snapshot: job threads add and remove entries
        return executions[0] if executions else None

    @execution.setter
    def execution(self, execution: Execution | None):
        if execution is not None:
            self.executions[execution.id] = execution

    @property
    def running_count(self) -> int:
        with self._lock:
            return len(self._running)

    # --- heartbeats and hung jobs ---

    def _heartbeat_loop(self) -> None:
        interval = max(1, int(self.job_monitoring_interval))
        while not self._heartbeat_stop.wait(interval):
            try:
                self.beat()
            except Exception:  # Redis briefly away: the next beat retries
                self.log.warning("Worker %s: heartbeat failed", self.name, exc_info=True)

    def beat(self) -> None:
        """Extend the TTL of the worker and of every running execution; give up on threads hung past timeout."""
        with self._lock:
            records = [r for r in self._running.values() if r.execution is not None]
        for record in records:
            timeout = record.job.timeout or self.queue_class.DEFAULT_TIMEOUT
            if timeout and timeout > 0 and time.monotonic() - record.started > timeout + self.hung_grace:
                self._abandon(record)
                continue
            self.maintain_heartbeats(record.job, record.execution)
        self.heartbeat()

    def _abandon(self, record: _Running) -> None:
        with self._lock:
            if self._running.get(id(record)) is not record:
                return
            self._abandoned.add(record.execution.id)
        self.log.error(
            "Worker %s: job %s still running %ds after its %ss timeout (stuck in a call that cannot be "
            "interrupted); failing it and freeing its thread slot",
            self.name,
            record.job.id,
            self.hung_grace,
            record.job.timeout,
        )
        record.job.ended_at = now()
        self.handle_job_failure(
            record.job,
            record.queue,
            exc_string=f"Job hung: its thread did not return within timeout + {self.hung_grace}s",
            execution=record.execution,
        )
        with self._lock:
            self._running.pop(id(record), None)
            if not self._running:
                super().set_state(WorkerStatus.IDLE)
            self._slots.release()
            self._changed.notify_all()

    def _finalize_success(self, job, queue, execution, return_value):
        if execution.id in self._abandoned:
            self.log.warning("Worker %s: ignoring the late result of abandoned job %s", self.name, job.id)
            return
        super()._finalize_success(job, queue, execution, return_value)

    def _finalize_failure(self, job, queue, execution, exc_info):
        if execution.id in self._abandoned:
            self.log.warning("Worker %s: ignoring the late failure of abandoned job %s", self.name, job.id)
            return
        super()._finalize_failure(job, queue, execution, exc_info)

    def handle_job_failure(self, job, queue, started_job_registry=None, exc_string="", execution=None):
        # RQ keeps one `_stopped_job_id` per worker; failures are handled one at a time so each sees its own.
        with self._lock:
            self._stopped_job_id = job.id if job.id in self._stopped_job_ids else None
            self._stopped_job_ids.discard(job.id)
            super().handle_job_failure(
                job, queue, started_job_registry=started_job_registry, exc_string=exc_string, execution=execution
            )

    # --- commands and shutdown ---

    def handle_payload(self, message):
        payload = parse_payload(message)
        if payload.get("command") in ("stop-job", "stop-execution"):
            self.stop_running(job_id=payload.get("job_id"), execution_id=payload.get("execution_id"))
            return
        super().handle_payload(message)

    def stop_running(self, *, job_id: str | None = None, execution_id: str | None = None) -> bool:
        """Stop a running job (by job or execution id): it fails as stopped at its next bytecode."""
        with self._lock:
            targets = [
                r
                for r in self._running.values()
                if r.execution is not None
                and r.thread is not None
                and (r.job.id == job_id or (execution_id and r.execution.id == execution_id))
            ]
            for record in targets:
                self._stopped_job_ids.add(record.job.id)
                async_raise(record.thread.ident, JobStoppedError)
        if not targets:
            self.log.warning("Worker %s: not running job %s, stop command ignored", self.name, job_id or execution_id)
        return bool(targets)

    def _interrupt_all(self, exc_class: type[BaseException]) -> None:
        with self._lock:
            for record in self._running.values():
                if record.thread is not None and record.thread.ident:
                    async_raise(record.thread.ident, exc_class)

    def _shutdown(self):
        if self._waiting:  # blocked waiting for a job or a free thread: stop right here
            raise StopRequested()
        # Dispatching a job: finish that, then stop at the top of the loop; running jobs finish in teardown().
        self._stop_requested = True
        self.set_shutdown_requested_date()

    def request_force_stop(self, signum, frame):
        if self._shutdown_requested_date and (now() - self._shutdown_requested_date).total_seconds() < 1:
            return  # the same signal twice (a worker pool and the terminal both sent it)
        self._cold = True
        self.log.warning("Worker %s: cold shut down, interrupting %d running job(s)", self.name, self.running_count)
        raise SystemExit()

    def _drain(self) -> None:
        with self._changed:
            if self._running:
                self.log.info("Worker %s: waiting for %d running job(s) to finish", self.name, len(self._running))
            while self._running and not self._cold:
                self._changed.wait(timeout=1)

    def teardown(self):
        try:
            if not self._cold:
                self._drain()
        except SystemExit:
            self._cold = True
            raise
        finally:
            if self._cold:
                self._interrupt_all(WorkerShutdownError)
                deadline = time.monotonic() + COLD_SHUTDOWN_GRACE_SECONDS
                with self._changed:
                    while self._running and time.monotonic() < deadline:
                        self._changed.wait(timeout=0.2)
            self._heartbeat_stop.set()
            super().teardown()


__all__ = ["BaseTimeoutException", "JobStoppedError", "ThreadDeathPenalty", "ThreadedWorker", "async_raise"]
