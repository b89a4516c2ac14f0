"""Eligibility rules (CIRV, and later Checkpoint and Outcome 22) and the
``flask eligibility assess`` command."""
