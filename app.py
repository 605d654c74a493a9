"""Development entry point: `flask --app app run`, `flask --app app chatpad …`."""

from chatpad import create_app

app = create_app()
