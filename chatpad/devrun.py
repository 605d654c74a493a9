"""`make run`: the whole product on one machine, on embedded defaults.

Migrates the database, seeds the demo business on first start, starts one embedded Redis (unless REDIS_URL is set)
and runs web, the stream process, workers, scheduler and the sandbox as child processes sharing it. Ctrl-C stops
everything it started.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from flask_migrate import upgrade

# The stream process's gunicorn options (README "Running workers at scale"): gevent greenlets, up to 1000
# connections per worker; a stopping worker closes its streams after 5 s (browsers reconnect elsewhere).
STREAMS_GUNICORN = (
    "--worker-class",
    "gevent",
    "--worker-connections",
    "1000",
    "--workers",
    "1",
    "--graceful-timeout",
    "5",
)
COLORS = {"web": 36, "streams": 96, "worker": 32, "ai": 35, "sender": 31, "scheduler": 33, "sandbox": 34}


def _pump(name: str, stream) -> None:
    color = COLORS.get(name, 37)
    prefix = f"\033[{color}m{name:>9}\033[0m | " if sys.stdout.isatty() else f"{name:>9} | "
    for line in iter(stream.readline, b""):
        sys.stdout.write(prefix + line.decode(errors="replace"))
        sys.stdout.flush()


def prepare() -> tuple[dict[str, str], int, int, int]:
    """Migrate, seed the demo on first start, and return the environment the children share."""
    from chatpad import create_app
    from chatpad.demo import seed_demo

    os.environ.setdefault("CHATPAD_ENV", "development")
    app = create_app()
    with app.app_context():
        upgrade()
        # Idempotent: a new install gets the whole demo, an older one what later versions added (e.g. widgets).
        result = seed_demo()
        if result.created:
            print(f"Seeded the demo business {result.organization.name!r} ({result.created} rows).")
    env = dict(os.environ)
    env["REDIS_URL"] = app.config["REDIS_URL"]
    env["PYTHONUNBUFFERED"] = "1"
    env["STREAMS_PORT"] = str(app.config["STREAMS_PORT"])
    return env, app.config["PORT"], app.config["STREAMS_PORT"], app.config.get("SANDBOX_PORT", 5055)


def main() -> int:
    env, port, streams_port, sandbox_port = prepare()
    python = sys.executable
    commands = {
        "web": [
            python,
            "-m",
            "gunicorn",
            "--workers",
            "2",
            "--threads",
            "8",
            "--bind",
            f"127.0.0.1:{port}",
            "--access-logfile",
            "-",
            "wsgi:app",
        ],
        # Event streams and long polls: greenlets in a process of their own, never the web's threads (wsgi.py).
        "streams": [python, "-m", "gunicorn", *STREAMS_GUNICORN, "--bind", f"127.0.0.1:{streams_port}", "wsgi:streams"],
        # Worker classes by queue (jobs/worker.py): inbound, mail and default jobs, and AI calls that wait seconds
        # on the model, run in threads; sends run one at a time in their own process (duplicate sends <= kills).
        "worker": [python, "-m", "jobs.worker", "inbound", "mail", "default"],
        "ai": [python, "-m", "jobs.worker", "ai"],
        "sender": [python, "-m", "jobs.worker", "outbound"],
        "scheduler": [python, "-m", "jobs.scheduler"],
        "sandbox": [python, "-m", "chatpad.sandbox", "--port", str(sandbox_port)],
    }
    procs: dict[str, subprocess.Popen] = {}
    for name, cmd in commands.items():
        # Our own fixed commands, not input.
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # noqa: S603
        procs[name] = proc
        threading.Thread(target=_pump, args=(name, proc.stdout), daemon=True).start()

    print(
        f"\nChatPad is starting at http://127.0.0.1:{port}  (live updates: http://127.0.0.1:{streams_port},"
        f" sandbox: http://127.0.0.1:{sandbox_port})"
    )
    print("Sign in as admin@mhpcommunities.com / chatpad-demo-2026. Ctrl-C stops everything.\n")

    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    while not stopping:
        for name, proc in procs.items():
            if proc.poll() is not None:
                print(f"{name} exited with code {proc.returncode}; stopping everything.")
                exit_code = proc.returncode or 1
                stopping = True
                break
        time.sleep(0.5)

    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    for proc in procs.values():
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
    print("Stopped.")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
