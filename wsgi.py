"""The WSGI entry point: ``flask --app wsgi ...`` and production servers."""

import sys

from casework import create_app
from casework.config import ConfigError

try:
    app = create_app()
except ConfigError as error:  # a setting's own message, not a traceback
    print(f"casework cannot start: {error}", file=sys.stderr)
    # 4 is gunicorn's "App failed to load": it stops. Any other code (sys.exit
    # with a message gives 1) and it started worker after worker for ever,
    # the port open and nothing served (found by review).
    sys.exit(4)
