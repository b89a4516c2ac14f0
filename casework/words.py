"""Words for sentences the pages and the rules write. Pure standard library."""

from __future__ import annotations

from collections.abc import Sequence


def listed(items: Sequence[str], conjunction: str = "and") -> str:
    """``a``, ``a and b``, ``a, b and c`` (or ``or``); empty for none."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + f" {conjunction} " + items[-1]
