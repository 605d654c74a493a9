"""The sandbox's own process logs every request it serves; a token in a query string must not reach that log
(issue 16 item 9: a make run log held 40 plaintext Page tokens)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import requests

SECRET = "EAAsandboxleakcheck0123456789abcdefXYZ"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_sandbox_process_never_logs_a_token_from_a_request(tmp_path):
    port = _free_port()
    env = {**os.environ, "LOG_LEVEL": "INFO", "SANDBOX_MAIL_ENABLED": "0", "INSTANCE_DIR": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "chatpad.sandbox", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(150):
            try:
                requests.get(f"{base}/v19.0/debug_token", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        requests.get(
            f"{base}/v19.0/debug_token", params={"input_token": SECRET, "access_token": "1234|" + SECRET}, timeout=5
        )
        requests.get(f"{base}/v19.0/me", headers={"Authorization": f"Bearer {SECRET}"}, timeout=5)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert "debug_token" in out  # the request lines are logged…
    assert SECRET not in out  # …without the token
