"""Shared benchmark plumbing: a scratch PostgreSQL database, a Redis db, gunicorn and wrk."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import requests
from sqlalchemy import create_engine, make_url, text

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
RESULTS = Path(os.environ.get("BENCH_RESULTS") or ROOT / "bench" / "results")
# BENCH_SMOKE=1: every benchmark at a tiny scale (a few customers, a few hundred rows, one round), so that
# tests/test_bench.py can run each end to end and see that it still works and reports its figures. Its numbers mean
# nothing; they are never asserted.
SMOKE = os.environ.get("BENCH_SMOKE") == "1"


def sized(full, smoke):
    """A benchmark's size: full normally, smoke under BENCH_SMOKE=1."""
    return smoke if SMOKE else full


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def scratch_database():
    """A fresh PostgreSQL database (DATABASE_URL's server, default this machine's), migrated, dropped afterwards."""
    from chatpad import normalize_database_url

    base = normalize_database_url(os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"))
    if base.startswith("sqlite"):
        raise SystemExit("benchmarks need PostgreSQL: set DATABASE_URL=postgresql://…")
    url = make_url(base)
    name = f"chatpad_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    db_url = url.set(database=name).render_as_string(hide_password=False)
    try:
        run([PYTHON, "-m", "flask", "--app", "app", "db", "upgrade"], env=bench_env(db_url, redis_url()))
        yield db_url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def redis_url() -> str:
    return os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


def flush_redis() -> None:
    from redis import Redis

    Redis.from_url(redis_url()).flushdb()


def bench_env(database_url: str, redis: str, **extra: str) -> dict[str, str]:
    instance = Path(tempfile.gettempdir()) / "chatpad-bench-instance"
    instance.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "CHATPAD_ENV": "development",
        "CHATPAD_INSTANCE_DIR": str(instance),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis,
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
        "RATELIMIT_ENABLED": "false",
    }
    env.update(extra)
    return env


def local_app(db_url: str):
    """This process's own app on the scratch database (to seed rows, to run a pipeline step in-process), with the
    development secrets the served processes use (bench_env's instance folder)."""
    from chatpad import create_app
    from chatpad.embedded import load_or_create_dev_secrets
    from config import DevelopmentConfig

    keys = load_or_create_dev_secrets(bench_env(db_url, redis_url())["CHATPAD_INSTANCE_DIR"])
    return create_app(
        DevelopmentConfig,
        SQLALCHEMY_DATABASE_URI=db_url,
        REDIS_URL=redis_url(),
        SECRET_KEY=keys["SECRET_KEY"],
        TOKEN_ENCRYPTION_KEYS=keys["TOKEN_ENCRYPTION_KEYS"],
        LOG_LEVEL="WARNING",
    )


def run(cmd: list[str], env: dict[str, str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, cwd=ROOT, check=True, capture_output=True, text=True, **kw)  # noqa: S603


@contextmanager
def serve(wsgi: str, env: dict[str, str], workers: int = 2, threads: int = 1, port: int | None = None):
    """gunicorn on a free port (or `port`); yields its base URL. wsgi:streams runs as `make run` runs the stream
    process (gevent)."""
    port = port or free_port()
    cmd = [PYTHON, "-m", "gunicorn", "--workers", str(workers), "--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
    if wsgi == "wsgi:streams":
        from chatpad.devrun import STREAMS_GUNICORN

        cmd = [PYTHON, "-m", "gunicorn", *STREAMS_GUNICORN, "--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
    elif threads > 1:
        cmd += ["--threads", str(threads)]
    proc = subprocess.Popen([*cmd, wsgi], env=env, cwd=ROOT)  # noqa: S603
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                requests.get(url + "/healthz", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def wrk(url: str, lua: str, *, seconds: int = 10, connections: int = 32, threads: int = 2) -> dict:
    """Run wrk with a Lua request script; return requests/s and latency percentiles (ms)."""
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed for this benchmark: apt-get install wrk")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(lua)
        script = fh.name
    out = subprocess.run(  # noqa: S603
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--latency", "-s", script, url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    os.unlink(script)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    lat = {}
    for pct, value, unit in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M):
        factor = {"us": 0.001, "ms": 1, "s": 1000}[unit]
        lat[f"p{pct}"] = float(value) * factor
    return {"rps": rps, "requests": total, "errors": int(non2xx.group(1)) if non2xx else 0, **lat, "raw": out}


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * pct / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def summary(values: list[float]) -> dict:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "mean": statistics.fmean(values) if values else float("nan"),
    }


def save(name: str, result: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"at": time.strftime("%Y-%m-%dT%H:%M:%S"), **result}, indent=2, default=str))
    return path


# What each process of a benchmark is, by its command line (the processes the benchmarks start, and the servers).
CPU_KINDS = (
    ("jobs.worker", "workers"),
    ("gunicorn", "web"),
    ("chatpad.sandbox", "sandbox"),
    ("postgres", "postgresql"),
    ("redis-server", "redis"),
)


def cpu_seconds() -> dict[str, float]:
    """CPU time (user + system) so far of every process on this machine of each kind in CPU_KINDS, by /proc (Linux;
    empty elsewhere). The difference of two readings is what a phase of a benchmark cost the machine, a figure that
    does not depend on how busy the machine was."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    totals: dict[str, float] = {}
    proc = Path("/proc")
    if not proc.is_dir():
        return totals
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        for needle, kind in CPU_KINDS:
            if needle in cmdline:
                if kind == "workers":  # one figure per worker's queues: "workers inbound mail default"
                    queues = [a for a in cmdline.split() if a.isalpha() and a in ("inbound", "ai", "outbound")]
                    kind = "worker " + "+".join(queues) if queues else kind
                totals[kind] = totals.get(kind, 0.0) + (int(fields[11]) + int(fields[12])) / ticks
                break
    return totals


def cpu_per_item(before: dict[str, float], after: dict[str, float], items: int) -> dict[str, float]:
    """Milliseconds of CPU per item between two cpu_seconds() readings, by kind, with the total.

    A process that ended between the readings drops out of the second; kinds only in the first are left out."""
    spent = {kind: (after[kind] - before.get(kind, 0.0)) * 1000 / max(items, 1) for kind in after}
    spent = {kind: ms for kind, ms in sorted(spent.items()) if ms > 0}
    spent["total"] = sum(spent.values())
    return spent
