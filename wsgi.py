"""Production entry point: `gunicorn wsgi:app`."""

from chatpad import create_app

app = create_app()
