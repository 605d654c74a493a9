"""Real processes for the fault tests (tests/reliability/): the app under gunicorn, `python -m jobs.worker` and
`python -m jobs.scheduler` subprocesses, a private redis-server and a TCP proxy in front of PostgreSQL.

Every process is started in its own session (process group) and stopped or SIGKILLed by that group's id — never by
name — so a test kills a worker together with its work horse, exactly as a container or a machine dies, and never
touches anything it did not start. The machine's shared Redis and PostgreSQL are never restarted: the Redis test gets
its own redis-server on a free port, the database test its own proxy.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]

# Short grace periods and heartbeats, so recovery happens in seconds, not minutes (production: config.py defaults).
# The claim grace stays well above the tests' platform timeout (2 s): a slow send still in flight is never re-sent.
FAST_RECOVERY = {
    "SWEEP_INTERVAL_SECONDS": "1",
    "SWEEP_EVENT_GRACE_SECONDS": "3",
    "SWEEP_CLAIM_GRACE_SECONDS": "8",
    "SWEEP_PENDING_GRACE_SECONDS": "5",
    "SWEEP_REPLY_GRACE_SECONDS": "6",
    "WORKER_HEARTBEAT_SECONDS": "1",
    "WORKER_HEARTBEAT_GRACE_SECONDS": "3",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_postgresql(database_url: str) -> bool:
    return database_url.startswith(("postgresql", "postgres"))


class Proc:
    """One child process in its own process group, its output in a log file."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log_dir: Path):
        self.name = name
        self.cmd = cmd
        self.env = env
        self.log_path = log_dir / f"{name}.log"
        self.popen: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        log = open(self.log_path, "a")  # noqa: SIM115 (kept open for the child)
        log.write(f"\n--- start {' '.join(self.cmd)}\n")
        log.flush()
        self.popen = subprocess.Popen(  # noqa: S603
            self.cmd, env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def kill(self) -> None:
        """SIGKILL the whole group: the worker and its forked work horse die mid-instruction."""
        if self.popen is None:
            return
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait(timeout=10)

    def stop(self, timeout: float = 10) -> None:
        """SIGTERM the group (a warm shutdown), SIGKILL if it lingers."""
        if self.popen is None or self.popen.poll() is not None:
            return
        try:
            os.killpg(self.popen.pid, signal.SIGTERM)
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        except ProcessLookupError:
            pass

    def restart(self) -> None:
        self.kill()
        self.start()

    def tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


class Stack:
    """The product's processes for one test: app, workers, scheduler, all on the given database and Redis."""

    def __init__(self, log_dir: Path, env: dict[str, str]):
        self.log_dir = log_dir
        self.env = env
        self.procs: dict[str, Proc] = {}

    def spawn(self, name: str, cmd: list[str], **env: str) -> Proc:
        proc = Proc(name, cmd, {**self.env, **env}, self.log_dir)
        self.procs[name] = proc
        return proc

    def app(self, name: str = "app", workers: int = 2, threads: int = 4, **env: str) -> str:
        """gunicorn serving wsgi:app (the production entry point) on a free port; returns its base URL."""
        port = free_port()
        cmd = [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--threads", str(threads)]
        cmd += ["--bind", f"127.0.0.1:{port}", "--graceful-timeout", "2", "wsgi:app"]
        return self._serve(name, cmd, port, **env)

    def streams(self, name: str = "streams", port: int | None = None, **env: str) -> str:
        """The stream process as README's "Running workers at scale" runs it (gunicorn's gevent worker serving
        wsgi:streams, chatpad/devrun.py's options) on a free port; returns its base URL."""
        from chatpad.devrun import STREAMS_GUNICORN

        port = port or free_port()
        cmd = [sys.executable, "-m", "gunicorn", *STREAMS_GUNICORN, "--bind", f"127.0.0.1:{port}", "wsgi:streams"]
        return self._serve(name, cmd, port, **env)

    def _serve(self, name: str, cmd: list[str], port: int, **env: str) -> str:
        self.spawn(name, cmd, **env)
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _answers(url + "/healthz"), 60, f"{name} did not start:\n{self.procs[name].tail()}")
        return url

    def worker(self, name: str, *queues: str, **env: str) -> Proc:
        """`python -m jobs.worker <queues>` — what operators run (its dispatcher thread runs when it has inbound)."""
        # No --name: RQ names each start afresh. A restarted worker reusing its name would be refused until the
        # killed one's registration expired (worker_ttl, 7 minutes).
        return self.spawn(name, [sys.executable, "-m", "jobs.worker", *queues], **env)

    def scheduler(self, **env: str) -> Proc:
        """`python -m jobs.scheduler`: the sweeper every SWEEP_INTERVAL_SECONDS."""
        return self.spawn("scheduler", [sys.executable, "-m", "jobs.scheduler"], **env)

    def close(self) -> None:
        for proc in self.procs.values():
            proc.stop(timeout=5)

    def logs(self) -> str:
        return "\n".join(f"===== {name}\n{proc.tail()}" for name, proc in self.procs.items())


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code < 500
    except requests.RequestException:
        return False


def wait_until(predicate, timeout: float, message: str = "condition not met", interval: float = 0.2):
    """Poll predicate() until it is truthy; fail the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s: {message() if callable(message) else message}")
        time.sleep(interval)


def stack_env(database_url: str, redis_url: str, sandbox_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "CHATPAD_ENV": "test",
        "CHATPAD_INSTANCE_DIR": str(tmp_path / "instance"),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "GRAPH_API_URL": f"{sandbox_url}/graph",
        "SANDBOX_URL": sandbox_url,
        "PLATFORM_HTTP_TIMEOUT": "2",
        "RATELIMIT_ENABLED": "false",
        "LOG_LEVEL": "INFO",
        **FAST_RECOVERY,
    }
    env.update(extra)
    return env


@pytest.fixture
def stack(tmp_path, database_url, redis_url, sandbox_server, app) -> Iterator[Stack]:
    """Processes on the session's database and Redis; all stopped after the test (their logs printed on failure)."""
    (tmp_path / "instance").mkdir()
    s = Stack(tmp_path, stack_env(database_url, redis_url, sandbox_server.url, tmp_path))
    try:
        yield s
    finally:
        s.close()


# --- a private Redis ------------------------------------------------------------------------------------------------


class PrivateRedis:
    """A redis-server of our own on a free port, without persistence: a restart loses every queue and key, the
    worst case for the pipeline (a Redis with AOF would lose less)."""

    def __init__(self, directory: Path):
        self.port = free_port()
        self.directory = directory
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        cmd = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        cmd += ["--dir", str(self.directory)]
        self.proc = subprocess.Popen(  # noqa: S603
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        from redis import Redis

        wait_until(lambda: _redis_up(Redis.from_url(self.url)), 20, "private redis-server did not start")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def _redis_up(conn) -> bool:
    try:
        return bool(conn.ping())
    except Exception:
        return False


@pytest.fixture
def private_redis(tmp_path) -> Iterator[PrivateRedis]:
    """A redis-server only this test uses (Debian's /usr/bin/redis-server), killed afterwards."""
    if not (shutil.which("redis-server") or Path("/usr/bin/redis-server").exists()):
        pytest.skip("redis-server is not installed (apt-get install redis-server; .ci/run does)")
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.kill()


# --- a TCP proxy that can cut the database off ----------------------------------------------------------------------


class TcpProxy:
    """127.0.0.1:<port> → target, in threads. down() closes the listener and every open connection (the database
    has gone away: new connections are refused, pooled ones break); up() listens again on the same port."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def up(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self._listener = listener
        self._stop.clear()
        threading.Thread(target=self._accept, args=(listener,), daemon=True, name="proxy-accept").start()

    def down(self) -> None:
        self._stop.set()
        if self._listener is not None:
            try:
                self._listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._listener.close()
            self._listener = None
        with self._lock:
            conns, self._conns = self._conns, set()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while not self._stop.is_set():
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            with self._lock:
                self._conns.discard(source)
                self._conns.discard(sink)
