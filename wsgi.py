"""The WSGI entry point: ``flask --app wsgi ...`` and production servers."""

from casework import create_app

app = create_app()
