"""Development entry point: `flask --app app run`, `flask --app app chatpad …`.

Where the sandbox is enabled (development), its commands (`chatpad simulate …`) are added here, by the sandbox
itself; wsgi.py (production) never loads it.
"""

from chatpad import create_app

app = create_app()

if app.config.get("SANDBOX_ENABLED"):
    from chatpad.sandbox.cli import register_cli

    register_cli(app)
