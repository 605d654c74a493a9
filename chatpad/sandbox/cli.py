"""The sandbox's own commands: `flask --app app chatpad simulate <channel> …` (be a customer, through the sandbox).

The sandbox registers them itself, and only where it is enabled (app.py calls register_cli when SANDBOX_ENABLED):
no production module imports the sandbox.
"""

from __future__ import annotations

from flask import Flask
from flask.cli import AppGroup

from .meta.cli import simulate_facebook
from .meta.instagram_cli import simulate_instagram
from .meta.whatsapp_cli import simulate_whatsapp
from .twilio.cli import simulate_sms

simulate = AppGroup("simulate", help="Be a customer on a platform, through the sandbox (docs/sandbox.md).")
simulate.add_command(simulate_facebook)
simulate.add_command(simulate_instagram)
simulate.add_command(simulate_sms)
simulate.add_command(simulate_whatsapp)


def register_cli(app: Flask) -> None:
    """Add the simulate commands to the app's `chatpad` command group."""
    app.cli.commands["chatpad"].add_command(simulate)
