"""Trials: configuration, randomisation sequences, allocations and their report."""

from flask import Blueprint

bp = Blueprint("trial", __name__)

