"""The hash chain on its own: no app, no database."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from casework.audit import chain


def make_events(count: int) -> list[chain.StoredEvent]:
    events, prev = [], chain.GENESIS
    for i in range(1, count + 1):
        fields = {
            "occurred_at": f"2026-11-21T12:00:{i:02d}.000000Z",
            "actor_id": i % 3 or None,
            "actor_role": "lead",
            "action": "referral:created",
            "subject_type": "referral",
            "subject_id": str(i),
            "site_id": 2,
            "detail": {"status": {"before": None, "after": "received"}},
            "request_id": f"req-{i}",
            "client_addr": "127.0.0.1",
        }
        digest = chain.event_hash(prev, fields)
        events.append(chain.StoredEvent(i, prev, digest, fields))
        prev = digest
    return events


def test_hash_is_sha256_of_previous_hash_and_canonical_json():
    fields = make_events(1)[0].fields
    canonical = json.dumps(
        {k: fields.get(k) for k in chain.HASHED_FIELDS},
        sort_keys=True, separators=(",", ":"), ensure_ascii=False,
    ).encode()
    expected = hashlib.sha256(chain.GENESIS.encode() + canonical).hexdigest()
    assert chain.event_hash(chain.GENESIS, fields) == expected


def test_canonical_json_ignores_key_order_and_unhashed_fields():
    fields = make_events(1)[0].fields
    shuffled = dict(reversed(list(fields.items())))
    shuffled["id"] = 999
    assert chain.canonical_json(shuffled) == chain.canonical_json(fields)


def test_intact_chain_verifies_and_reports_its_head():
    events = make_events(5)
    result = chain.verify(events)
    assert result.ok and result.checked == 5
    assert result.head == chain.Anchor(5, events[-1].hash)


def test_empty_chain_is_intact():
    assert chain.verify([]).ok


def test_edited_field_is_caught_at_that_event():
    events = make_events(5)
    edited = dict(events[2].fields, action="referral:closed")
    events[2] = chain.StoredEvent(3, events[2].prev_hash, events[2].hash, edited)
    result = chain.verify(events)
    assert not result.ok
    assert result.bad_event_id == 3
    assert "changed" in result.problem
    assert result.checked == 2


def test_deleted_event_is_caught_at_the_next_one():
    events = make_events(5)
    del events[1]
    result = chain.verify(events)
    assert (result.ok, result.bad_event_id) == (False, 3)
    assert "removed" in result.problem


def test_reordered_pair_is_caught():
    events = make_events(5)
    events[1], events[2] = events[2], events[1]
    result = chain.verify(events)
    assert not result.ok
    assert result.bad_event_id == 3


def test_anchor_still_in_chain():
    events = make_events(5)
    assert chain.verify(events, chain.Anchor(4, events[3].hash)).ok


def test_anchor_with_other_hash_fails():
    events = make_events(5)
    result = chain.verify(events, chain.Anchor(4, "a" * 64))
    assert (result.ok, result.bad_event_id) == (False, 4)


def test_truncated_tail_is_caught_by_anchor():
    events = make_events(5)
    anchor = chain.Anchor(5, events[4].hash)
    result = chain.verify(events[:3], anchor)
    assert not result.ok
    assert result.bad_event_id == 5
    assert "no longer" in result.problem


@pytest.mark.parametrize("text", ["", "12", "x:" + "a" * 64, "12:abc", "12:" + "g" * 64,
                                  "9" * 20 + ":" + "a" * 64,
                                  # taken by int(x, 16), and then said to break the chain
                                  "12:0x" + "a" * 62, "12:" + "a" * 10 + "_" + "a" * 53,
                                  "12: " + "a" * 63, "12:+" + "a" * 63,
                                  "0:" + "a" * 64])  # ids start at 1
def test_anchor_parse_rejects_malformed(text):
    with pytest.raises(ValueError):
        chain.Anchor.parse(text)


def test_anchor_parse_accepts_id_and_hash():
    assert chain.Anchor.parse("7:" + "AB" * 32) == chain.Anchor(7, "ab" * 32)


@given(st.integers(min_value=1, max_value=12), st.data())
def test_any_single_field_change_breaks_the_chain(count, data):
    events = make_events(count)
    index = data.draw(st.integers(min_value=0, max_value=count - 1))
    name = data.draw(st.sampled_from(chain.HASHED_FIELDS))
    original = events[index]
    changed = dict(original.fields, **{name: "tampered"})
    events[index] = chain.StoredEvent(original.id, original.prev_hash, original.hash, changed)
    result = chain.verify(events)
    assert not result.ok and result.bad_event_id == original.id


def _tampered(events: list[chain.StoredEvent], how: str, index: int) -> None:
    """Change the chain ``events`` in place at ``index`` in one way."""
    if how == "edit":
        original = events[index]
        events[index] = chain.StoredEvent(original.id, original.prev_hash, original.hash,
                                          dict(original.fields, action="tampered"))
    elif how == "delete":
        del events[index]
    elif how == "swap" and index + 1 < len(events):
        events[index], events[index + 1] = events[index + 1], events[index]
    elif how == "truncate":
        del events[index:]


@given(st.integers(min_value=0, max_value=10), st.data())
def test_stretches_checked_apart_and_combined_judge_as_one_walk(count, data):
    """``audit verify`` checks stretches of the chain in parallel, each from
    the stored hash of the event before it: joined, they must say exactly
    what one walk says (the first bad event, the events before it, the
    head, the anchor), whatever was done to the chain."""
    events = make_events(count)
    anchor = None
    if count and data.draw(st.booleans()):
        anchored = events[data.draw(st.integers(0, count - 1))]
        good = data.draw(st.booleans())
        anchor = chain.Anchor(anchored.id, anchored.hash if good else "a" * 64)
    if count:
        how = data.draw(st.sampled_from(["none", "edit", "delete", "swap", "truncate"]))
        _tampered(events, how, data.draw(st.integers(0, count - 1)))
    cuts = sorted(data.draw(st.sets(st.integers(0, len(events)), max_size=4)) | {0})
    stretches = []
    for start, end in zip(cuts, [*cuts[1:], len(events)], strict=True):
        previous = events[start - 1].hash if start else chain.GENESIS
        stretches.append(chain.verify_stretch(events[start:end], previous, anchor))
    assert chain.combine(stretches, anchor) == chain.verify(events, anchor)


_JSON_SCALARS = (st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1)
                 | st.text())
_JSON_VALUES = st.recursive(
    _JSON_SCALARS,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=12,
)


# No deadline: the first example imports the audit service (and the app's
# modules with it), which took 425 ms on a slow machine.
@settings(deadline=None)
@given(st.fixed_dictionaries({name: _JSON_VALUES for name in chain.HASHED_FIELDS}))
def test_orjson_writes_the_canonical_json_byte_for_byte(fields):
    # `audit verify` and the bulk seed hash orjson's bytes for speed; they must be
    # the bytes of chain.canonical_json for every value the audit log holds.
    import orjson

    try:
        fast = orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:  # e.g. lone surrogates: verify falls back to the definition
        return
    assert fast == chain.canonical_json(fields)
    from casework.audit.services import fast_event_hash

    assert fast_event_hash(chain.GENESIS, fields) == chain.event_hash(chain.GENESIS, fields)
