"""The WSGI entry point: ``flask --app wsgi ...`` and production servers."""

import sys

from casework import create_app
from casework.config import ConfigError

try:
    app = create_app()
except ConfigError as error:  # a setting's own message, not a traceback
    sys.exit(f"casework cannot start: {error}")
