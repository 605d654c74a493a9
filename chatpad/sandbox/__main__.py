"""`python -m chatpad.sandbox [--port N]`: serve the sandbox (make run starts it)."""

from __future__ import annotations

import argparse
import logging

from werkzeug.serving import run_simple

from . import create_sandbox_app


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the ChatPad sandbox.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_sandbox_app()
    port = args.port or app.config.get("SANDBOX_PORT", 5055)
    run_simple(args.host, port, app, threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
