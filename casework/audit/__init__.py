"""The tamper-evident audit log: recording, verifying, and reading it."""

from flask import Blueprint

bp = Blueprint("audit", __name__, url_prefix="/audit")

