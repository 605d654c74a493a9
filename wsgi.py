"""Production entry points.

- `gunicorn wsgi:app`: pages, the admin, webhooks and the visitor API, on threads (gthread). It holds no stream.
- `gunicorn -k gevent wsgi:streams`: the stream process. Event streams and long polls, one greenlet each, so any
  number of them waits on Redis without taking a thread from pages or webhooks; it answers nothing else
  (chatpad/streams.py).

Each is built on first use, so a process builds only the app it serves, after gevent has patched the standard
library in the stream process.
"""

from chatpad import create_app


def __getattr__(name: str):
    if name == "app":
        built = create_app(SERVES_STREAMS=False)
    elif name == "streams":
        from chatpad.streams import streams_only

        built = create_app(SERVES_STREAMS=True)
        built.wsgi_app = streams_only(built.wsgi_app)
    else:
        raise AttributeError(name)
    globals()[name] = built
    return built
