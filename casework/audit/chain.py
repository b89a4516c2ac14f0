"""The audit log's hash chain: pure functions, standard library only.

Each event carries the hash of the one before it:

    hash = sha256(prev_hash || canonical_json(event))

where ``canonical_json`` is JSON with sorted keys, no insignificant
whitespace and UTF-8 text. The first event's ``prev_hash`` is ``GENESIS``.
Changing a stored field, deleting an event or reordering two events breaks the
chain at the first affected event, and ``verify`` names it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64

# The fields covered by the hash. ``id`` is deliberately not among them: the
# chain, not the numbering, is the order; an anchor pins an id to a hash.
HASHED_FIELDS = (
    "occurred_at",
    "actor_id",
    "actor_role",
    "action",
    "subject_type",
    "subject_id",
    "site_id",
    "detail",
    "request_id",
    "client_addr",
)


def canonical_json(fields: Mapping[str, Any]) -> bytes:
    """The event's hashed fields as canonical JSON bytes."""
    payload = {name: fields.get(name) for name in HASHED_FIELDS}
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def event_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    """sha256(prev_hash || canonical JSON of the event), as lower-case hex."""
    digest = hashlib.sha256()
    digest.update(prev_hash.encode("ascii"))
    digest.update(canonical_json(fields))
    return digest.hexdigest()


@dataclass(frozen=True)
class StoredEvent:
    """One event as read back from storage, in chain order."""

    id: int
    prev_hash: str
    hash: str
    fields: Mapping[str, Any]


# No database keeps a larger id (SQLite's INTEGER; PostgreSQL's BIGINT).
MAX_EVENT_ID = 2**63 - 1
_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True)
class Anchor:
    """A head recorded outside the database: event ``id`` had hash ``hash``."""

    id: int
    hash: str

    @classmethod
    def parse(cls, text: str) -> Anchor:
        """Parse ``ID:HASH``; raise ValueError with a readable message otherwise."""
        ident, sep, digest = text.partition(":")
        if not sep or not (ident.isascii() and ident.isdigit()) or len(digest) != 64:
            raise ValueError("an anchor looks like ID:HASH, for example 1042:3fa9… (64 hex digits)")
        if not 1 <= int(ident) <= MAX_EVENT_ID:  # a mistyped id, not an event the chain lost
            raise ValueError(f"no event can have the id {ident} (ids go from 1 to "
                             f"{MAX_EVENT_ID:,})")
        # digits only: int(digest, 16) took "0x…", "_" and spaces, and the
        # chain was then said broken where the anchor was mistyped (review)
        if not _HEX_DIGEST.fullmatch(digest):
            raise ValueError("the anchor's hash must be 64 hexadecimal digits")
        return cls(int(ident), digest.lower())


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    head: Anchor | None
    bad_event_id: int | None = None
    problem: str | None = None


def matches(event: StoredEvent) -> bool:
    """Whether the event's stored hash is the hash of its contents."""
    return event_hash(event.prev_hash, event.fields) == event.hash


def verify(events: Iterable[StoredEvent], anchor: Anchor | None = None, *,
           check: Callable[[StoredEvent], bool] = matches) -> Verification:
    """Walk the chain in order; stop at the first event that does not match.

    An event is bad when its ``prev_hash`` is not the previous event's hash
    (an event was deleted or the order changed) or when its own hash does not
    match its contents (a field was edited). With an ``anchor``, the anchored
    event must still be in the chain with the recorded hash, which also catches
    events removed from the end. ``check`` may be a faster equivalent of
    ``matches`` (it must say False only when ``matches`` would).
    """
    return combine([verify_stretch(events, GENESIS, anchor, check=check)], anchor)


@dataclass(frozen=True)
class Stretch:
    """The check of consecutive events of the chain on their own (see
    ``verify_stretch``), and whether the anchor was among them."""

    verification: Verification
    anchor_seen: bool


def verify_stretch(events: Iterable[StoredEvent], previous: str,
                   anchor: Anchor | None = None, *,
                   check: Callable[[StoredEvent], bool] = matches) -> Stretch:
    """``verify`` for consecutive events of the chain, the first of which
    must link to ``previous``: the stored hash of the event before them
    (``GENESIS`` for the chain's first). Each event is checked against the
    stored hash of the one before it, exactly as a walk of the whole chain
    checks it, so stretches that cover the chain, checked apart (in
    parallel) and joined in order by ``combine``, judge it as ``verify``
    does. Whether the anchored event is missing can only be said of the
    whole chain: ``combine`` says it."""
    checked = 0
    last: StoredEvent | None = None
    anchor_seen = False
    for event in events:
        if event.prev_hash != previous:
            return Stretch(Verification(
                False, checked, _head(last), event.id,
                "its previous hash does not match the event before it "
                "(an event was removed or the order changed)",
            ), anchor_seen)
        if not check(event):
            return Stretch(Verification(
                False, checked, _head(last), event.id,
                "its contents do not match its hash (a field was changed)",
            ), anchor_seen)
        if anchor is not None and event.id == anchor.id:
            if event.hash != anchor.hash:
                return Stretch(Verification(
                    False, checked, _head(last), event.id,
                    "its hash differs from the recorded anchor",
                ), anchor_seen)
            anchor_seen = True
        previous = event.hash
        last = event
        checked += 1
    return Stretch(Verification(True, checked, _head(last)), anchor_seen)


def combine(stretches: Iterable[Stretch], anchor: Anchor | None = None) -> Verification:
    """The whole chain's verification from its stretches' (in chain order,
    covering it): the first bad event of the first stretch with one, the
    events before it counted across the stretches before; then the anchor,
    which must have been seen in one of them."""
    checked = 0
    head: Anchor | None = None
    seen = anchor is None
    for stretch in stretches:
        found = stretch.verification
        if not found.ok:
            return Verification(False, checked + found.checked, found.head or head,
                                found.bad_event_id, found.problem)
        checked += found.checked
        head = found.head or head
        seen = seen or stretch.anchor_seen
    if not seen:
        return Verification(
            False, checked, head, anchor.id,
            "the anchored event is no longer in the chain",
        )
    return Verification(True, checked, head)


def _head(event: StoredEvent | None) -> Anchor | None:
    return None if event is None else Anchor(event.id, event.hash)
