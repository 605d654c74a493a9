"""`python -m chatpad.sandbox [--port N]`: serve the sandbox (make run starts it), with its mail server."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from werkzeug.serving import run_simple

from . import create_sandbox_app


def start_mail_server(app, port: int):
    """The demo inboxes on the sandbox IMAP/SMTP server, with the passwords `chatpad demo` stored for them."""
    from chatpad import demo_data

    from .mail.server import MailServers
    from .mail.store import MailStore

    store = MailStore(Path(app.instance_path) / "sandbox-mail")
    for address in app.extensions["sandbox.mail_addresses"]:
        store.set_password(address, demo_data.mailbox_password(app.config["META_APP_SECRET"], address))
    servers = MailServers(
        store,
        host=app.config["SANDBOX_MAIL_HOST"],
        imap_port=app.config["SANDBOX_IMAP_PORT"],
        smtp_port=app.config["SANDBOX_SMTP_PORT"],
        introspect_url=f"http://127.0.0.1:{port}/oauth/introspect",
    ).start()
    app.extensions["sandbox.mail_store"] = store
    app.extensions["sandbox.mail_servers"] = servers
    return servers


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the ChatPad sandbox.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args()
    # LOG_LEVEL as the app's (config.py); at INFO every request is logged.
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # aiosmtpd logs every connection (and a loopback-only AUTH-without-TLS note) at INFO/WARNING.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    app = create_sandbox_app()
    port = args.port or app.config.get("SANDBOX_PORT", 5055)
    servers = start_mail_server(app, port) if app.config.get("SANDBOX_MAIL_ENABLED") else None
    try:
        run_simple(args.host, port, app, threaded=True, use_reloader=False)
    finally:
        if servers:
            servers.stop()


if __name__ == "__main__":
    main()
