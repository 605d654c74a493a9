"""The floors the benchmarks compare against: the least any implementation must do.

- POST /floor/facebook: check the HMAC and do one RQ enqueue (webhook_ack's floor): what an endpoint that stored
  nothing durably would cost.
- GET /floor/page: a small Jinja template rendered by a bare Flask app (bench/streams' floor for a page): what any
  page costs through gunicorn, with no session, no database and no admin.
- bench.floor.noop: an RQ job that does nothing (pipeline_e2e's floor for jobs/s of the same worker class).
"""

from __future__ import annotations

import os

from flask import Flask, render_template_string, request
from redis import Redis
from rq import Queue

from chatpad.channels.errors import SignatureError
from chatpad.channels.meta.signature import verify_signature

app = Flask(__name__)
_secret = os.environ.get("META_APP_SECRET", "")
_queue = Queue("inbound", connection=Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/14")))


@app.post("/floor/facebook")
def floor_webhook():
    body = request.get_data()
    try:
        verify_signature(body, request.headers, _secret)
    except SignatureError:
        return {"error": "invalid signature"}, 403
    _queue.enqueue("bench.floor.noop", len(body))
    return {"status": "received"}


PAGE = """<!doctype html><html><head><title>{{ title }}</title></head><body><h1>{{ title }}</h1>
<ul>{% for row in rows %}<li>{{ row }}</li>{% endfor %}</ul></body></html>"""


@app.get("/floor/page")
def floor_page():
    return render_template_string(PAGE, title="Inbox", rows=[f"Conversation {n}" for n in range(25)])


@app.get("/healthz")
def healthz():
    return "ok"


def noop(*args) -> None:
    """A job that does nothing."""
