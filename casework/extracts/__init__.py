"""Anonymised cohort extracts, the data dictionary, aggregate tables and the
CONSORT flow, for the trial's evaluators."""

from flask import Blueprint

bp = Blueprint("extracts", __name__)
