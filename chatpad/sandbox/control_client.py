"""What every `flask chatpad simulate <channel>` command shares: where the sandbox is, and one call to its control
API that turns an unreachable sandbox or a refused simulation into a clear message instead of a traceback."""

from __future__ import annotations

from typing import Any

import click
import requests
from flask import current_app


def sandbox_url() -> str:
    """The running sandbox's base URL (make run sets SANDBOX_URL), without a trailing slash."""
    url = current_app.config.get("SANDBOX_URL")
    if not url:
        raise click.ClickException("SANDBOX_URL is not set: the sandbox runs in development (make run starts it).")
    return str(url).rstrip("/")


def simulate(base: str, path: str, spec: dict[str, Any]) -> dict[str, Any]:
    """POST a simulation to the sandbox's control API and return its JSON answer (ClickException when it fails)."""
    try:
        response = requests.post(f"{base}{path}", json=spec, timeout=30)
    except requests.RequestException as exc:
        raise click.ClickException(f"The sandbox at {base} is not reachable ({type(exc).__name__}). Is it running?")
    try:
        data = response.json()
    except ValueError:
        raise click.ClickException(f"The sandbox answered HTTP {response.status_code} without JSON.")
    if not response.ok:
        raise click.ClickException(data.get("error", f"HTTP {response.status_code}"))
    return data
