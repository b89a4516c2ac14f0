"""The permuted-block sequence: pinned output for a fixed key, balance and
block sizes over long runs, strata and allocation lists (no app, no database)."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from casework.trial import sequence, strata
from casework.trial.sequence import Arm, BlockDesign

KEY = b"golden-trial-key"
DEFAULT = BlockDesign()


def arms(key: bytes, stratum: str, count: int, design: BlockDesign = DEFAULT,
         trial: str = "cirv") -> list[Arm]:
    return [s.arm for s in itertools.islice(sequence.slots(key, trial, stratum, design), count)]


def test_golden_sequence_for_a_fixed_key():
    """Pinned: if this changes, every trial statistician's regeneration breaks.
    Change sequence.VERSION rather than this output."""
    coventry = "".join("T" if a == Arm.TREATMENT else "C" for a in arms(KEY, "coventry", 24))
    wolverhampton = "".join("T" if a == Arm.TREATMENT else "C"
                            for a in arms(KEY, "wolverhampton", 24))
    sizes = [len(sequence.block(KEY, "cirv", "coventry", i, DEFAULT)) for i in range(8)]
    assert (coventry, wolverhampton, sizes) == GOLDEN
    assert sequence.VERSION == "pb-hmac-sha256/1"


def test_the_key_fingerprint_names_the_key_and_gives_nothing_of_it():
    """Each allocation records it (DESIGN: the statistician must know which
    key made an allocation): HMAC-SHA256(key, "casework trial key
    fingerprint"), its first 16 hex digits, as sequence.py documents."""
    import hashlib
    import hmac

    fingerprint = sequence.key_fingerprint(KEY)
    assert fingerprint == hmac.new(KEY, b"casework trial key fingerprint",
                                   hashlib.sha256).hexdigest()[:16]
    assert len(fingerprint) == 16 and int(fingerprint, 16) >= 0
    assert sequence.key_fingerprint(b"golden-trial-key2") != fingerprint
    # not the start of any sequence stream, nor the key's own hash
    assert fingerprint not in hashlib.sha256(KEY).hexdigest()
    version = sequence.keyed_version(KEY)
    assert version == f"pb-hmac-sha256/1 key:{fingerprint}" and len(version) <= 100
    assert sequence.fingerprint_in(version) == fingerprint
    # a row stored before fingerprints, or an allocation list's, names no key
    assert sequence.fingerprint_in("pb-hmac-sha256/1") is None
    assert sequence.fingerprint_in("list-sha256:" + "0" * 64) is None


GOLDEN = (
    "CTTCCTTCTCTCTTCCCTTTCCCC",
    "TCTCCTTCTTCCTTCCCTCTTCTC",
    [4, 6, 6, 6, 4, 2, 2, 6],
)


def _documented_block(key: bytes, trial: str, stratum: str, index: int,
                      sizes=(2, 4, 6)) -> list[str]:
    """The construction exactly as sequence.py's docstring states it, written
    again from the text, so the documentation and the code cannot drift."""
    import hashlib
    import hmac

    def words():
        for chunk in itertools.count():
            message = "\x1f".join(["casework/pb/1", trial, stratum, str(index), str(chunk)])
            digest = hmac.new(key, message.encode(), hashlib.sha256).digest()
            for i in range(0, 32, 4):
                yield int.from_bytes(digest[i:i + 4], "big")

    stream = words()

    def uniform(n):
        for x in stream:
            if x < 2**32 - (2**32 % n):
                return x % n

    size = sizes[uniform(len(sizes))]
    block = ["treatment"] * (size // 2) + ["control"] * (size // 2)
    for i in range(size - 1, 0, -1):
        j = uniform(i + 1)
        block[i], block[j] = block[j], block[i]
    return block


@pytest.mark.parametrize("index", range(12))
def test_the_documented_construction_gives_the_same_blocks(index):
    assert [str(a) for a in sequence.block(KEY, "cirv", "coventry", index, DEFAULT)] == \
        _documented_block(KEY, "cirv", "coventry", index)


def test_sequence_depends_on_key_trial_and_stratum():
    base = arms(KEY, "coventry", 200)
    assert base == arms(KEY, "coventry", 200)
    assert base != arms(b"another key", "coventry", 200)
    assert base != arms(KEY, "wolverhampton", 200)
    assert base != arms(KEY, "coventry", 200, trial="other-trial")


def test_slot_lookup_matches_the_stream():
    stream = list(itertools.islice(sequence.slots(KEY, "cirv", "coventry", DEFAULT), 50))
    for entry in stream:
        assert sequence.slot(KEY, "cirv", "coventry", entry.slot, DEFAULT) == entry
    with pytest.raises(ValueError):
        sequence.slot(KEY, "cirv", "coventry", 0, DEFAULT)


@pytest.mark.parametrize("stratum", ["coventry", "wolverhampton/18-24"])
def test_ten_thousand_allocations_one_to_one(stratum):
    n = 10_000
    drawn = list(itertools.islice(sequence.slots(KEY, "cirv", stratum, DEFAULT), n))
    difference, worst = 0, 0
    for entry in drawn:
        difference += 1 if entry.arm == Arm.TREATMENT else -1
        worst = max(worst, abs(difference))
    assert worst <= 3  # DESIGN.md: arms never differ by more than 3
    treated = sum(e.arm == Arm.TREATMENT for e in drawn)
    assert abs(treated - n / 2) <= 3
    # each block balanced, sizes drawn evenly from 2, 4 and 6
    blocks = Counter()
    for _index, members in itertools.groupby(drawn, key=lambda e: e.block):
        members = list(members)
        blocks[len(members)] += 1
        if members[-1].slot < n:  # a complete block
            assert sum(m.arm == Arm.TREATMENT for m in members) == len(members) // 2
    assert set(blocks) <= {2, 4, 6}
    total_blocks = sum(blocks.values())
    for size in (2, 4, 6):
        assert abs(blocks[size] / total_blocks - 1 / 3) < 0.04, blocks


def test_two_to_one_ratio_with_blocks_of_three_and_six():
    design = BlockDesign((2, 1), (3, 6))
    drawn = list(itertools.islice(sequence.slots(KEY, "cirv", "coventry", design), 10_002))
    treated = sum(e.arm == Arm.TREATMENT for e in drawn)
    assert abs(treated / len(drawn) - 2 / 3) < 0.002
    for _, members in itertools.groupby(drawn, key=lambda e: e.block):
        members = list(members)
        assert len(members) in (3, 6)
        assert sum(m.arm == Arm.TREATMENT for m in members) == len(members) * 2 // 3


def test_block_contents_are_shuffled_not_fixed():
    orders = {sequence.block(KEY, "cirv", "coventry", i, BlockDesign((1, 1), (4,)))
              for i in range(200)}
    assert len(orders) == 6  # all C(4,2) arrangements of a block of four occur


@pytest.mark.parametrize(("ratio", "sizes", "problem"), [
    ((1, 1), (3,), "multiples of 2"),
    ((2, 1), (2, 6), "multiples of 3"),
    ((0, 1), (2,), "whole numbers of 1 or more"),
    ((1, 1), (), "at least one block size"),
    ((1, 1), (2, 2), "each block size once"),
])
def test_designs_that_cannot_balance_are_refused(ratio, sizes, problem):
    assert problem in sequence.design_problem(ratio, sizes)
    with pytest.raises(ValueError):
        BlockDesign(ratio, sizes)


@pytest.mark.parametrize(("age", "band"), [(14, "14-17"), (17, "14-17"), (18, "18-24"),
                                           (24, "18-24"), (25, "25+"), (62, "25+")])
def test_age_bands(age, band):
    assert strata.age_band(age) == band
    assert strata.stratum_key("coventry", age, by_age_band=True) == f"coventry/{band}"
    assert strata.stratum_key("coventry", age, by_age_band=False) == "coventry"


def test_below_the_youngest_band_is_an_error():
    with pytest.raises(ValueError):
        strata.age_band(13)


def test_all_strata():
    assert strata.all_strata(["wolverhampton", "coventry"], by_age_band=False) == [
        "coventry", "wolverhampton"]
    assert len(strata.all_strata(["coventry", "wolverhampton"], by_age_band=True)) == 6


VALID = ["coventry", "wolverhampton"]


def test_allocation_list_parses_with_its_checksum():
    data = b"stratum,slot,arm\ncoventry,1,treatment\ncoventry,2,control\nwolverhampton,1,Control\n"
    parsed = strata.parse_allocation_list(data, VALID)
    assert parsed.entries == (("coventry", 1, Arm.TREATMENT), ("coventry", 2, Arm.CONTROL),
                              ("wolverhampton", 1, Arm.CONTROL))
    import hashlib
    assert parsed.sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(("data", "message"), [
    (b"slot,arm\n1,treatment\n", "header stratum,slot,arm"),
    (b"stratum,slot,arm\n", "no allocations"),
    (b"stratum,slot,arm\nbirmingham,1,treatment\n", "Line 2: stratum 'birmingham'"),
    (b"stratum,slot,arm\ncoventry,2,treatment\n", "Line 2: slot must be 1"),
    (b"stratum,slot,arm\ncoventry,1,treatment\ncoventry,1,control\n", "Line 3: slot must be 2"),
    (b"stratum,slot,arm\ncoventry,1,placebo\n", "Line 2: arm must be treatment or control"),
    (b"stratum,slot,arm\ncoventry,1\n", "Line 2: expected 3 values"),
    (b"\xff\xfe\x00", "UTF-8"),
    # odd numbers and oversized fields (each raised past the checks before)
    ("stratum,slot,arm\ncoventry,\u00b2,control\n".encode(), "Line 2: slot must be 1"),
    (b"stratum,slot,arm\ncoventry," + b"1" * 5000 + b",control\n", "Line 2: slot must be 1"),
    (b"stratum,slot,arm\ncoventry,1," + b"x" * 200_000 + b"\n", "not a CSV this service"),
    # found by review: Python's words ("field larger than field limit"), and no line
    (b"stratum,slot,arm\ncoventry,1,control\ncoventry,2," + b"x" * 200_000 + b"\n",
     "not a CSV this service can read: line 3 has a value longer than 131,072 characters"),
    # the line the record starts on, not the record's number (found by review)
    (b'stratum,slot,arm\n"coventry\n",1,control\ncoventry,9,control\n', "Line 4: slot must be 2"),
    (b'stratum,slot,arm\r\n"a\r\nb",1,control\r\ncoventry,9,control\r\n',
     "Line 4: slot must be 1"),
])
def test_bad_allocation_lists_name_the_line(data, message):
    with pytest.raises(strata.AllocationListError) as caught:
        strata.parse_allocation_list(data, VALID)
    assert message in str(caught.value)
    assert "field limit" not in str(caught.value)


@pytest.mark.parametrize("newline", [b"\r", b"\r\n", b"\n"])
def test_an_allocation_list_takes_any_line_ending(newline):
    """Found by review: a list saved by Excel for Mac, each line ended by a
    carriage return alone, was refused in the csv module's words."""
    data = newline.join([b"stratum,slot,arm", b"coventry,1,treatment", b"coventry,2,control",
                         b""])
    assert strata.parse_allocation_list(data, VALID).entries == (
        ("coventry", 1, Arm.TREATMENT), ("coventry", 2, Arm.CONTROL))


def test_a_value_repeated_in_a_message_is_cut_short():
    """Found by review: each refused stratum was repeated whole, so a 1.5 MB
    upload gave a 2.6 MB error page."""
    data = b"stratum,slot,arm\n" + b"".join(b"x" * 100_000 + b",1,control\n" for _ in range(12))
    with pytest.raises(strata.AllocationListError) as caught:
        strata.parse_allocation_list(data, VALID)
    problems = caught.value.problems
    assert len(problems) == 10 and all(len(p) < 200 for p in problems)
    assert problems[0].startswith("Line 2: stratum '" + "x" * 40 + "\u2026' is not one of")


LIST = (("coventry", 1, Arm.TREATMENT), ("coventry", 2, Arm.CONTROL),
        ("wolverhampton", 1, Arm.CONTROL))


@pytest.mark.parametrize("new", [
    (*LIST, ("coventry", 3, Arm.CONTROL)),  # more slots
    (*LIST, ("dudley", 1, Arm.TREATMENT)),  # a site added
    (("coventry", 1, Arm.TREATMENT), ("coventry", 2, Arm.CONTROL), ("coventry", 3, Arm.CONTROL),
     ("wolverhampton", 1, Arm.CONTROL), ("wolverhampton", 2, Arm.TREATMENT)),  # rows reordered
])
def test_a_list_that_keeps_every_row_and_adds_slots_extends_it(new):
    assert strata.extension_problems(LIST, new) == []


CHANGED = ("This file changes at least one row of the current list, which it must repeat "
           "unchanged. Compare it with the file whose SHA-256 this page shows for the current "
           "list (the rows are not named here: its unused slots are allocations to come)")


@pytest.mark.parametrize(("new", "problem"), [
    (LIST, "This file adds no slots to the current list"),
    ((("coventry", 1, Arm.TREATMENT), ("coventry", 2, Arm.TREATMENT),
      ("wolverhampton", 1, Arm.CONTROL), ("wolverhampton", 2, Arm.CONTROL)),
     CHANGED),
    ((("coventry", 1, Arm.TREATMENT), ("coventry", 2, Arm.CONTROL),
      ("dudley", 1, Arm.CONTROL)),
     "Stratum wolverhampton: this file stops before slot 1, which the current list has"),
    # short and changed: only where it stops, so no arm is compared before every row is there
    ((("coventry", 1, Arm.CONTROL), ("wolverhampton", 1, Arm.TREATMENT)),
     "Stratum coventry: this file stops before slot 2, which the current list has"),
])
def test_a_list_that_drops_or_changes_a_row_does_not_extend_it(new, problem):
    assert strata.extension_problems(LIST, new) == [problem]


@pytest.mark.parametrize("guess", [Arm.TREATMENT, Arm.CONTROL])
def test_a_refused_list_never_tells_the_arms_held(guess):
    """An uploader guessing every slot one arm (or sending the first row only)
    learnt each held arm that differed, and the arm of the first slot the
    file lacked: each unused slot an allocation to come (found by review).
    The answer is the same whichever rows differ, and names no arm."""
    held = tuple(("coventry", n, arm) for n, arm in enumerate(
        [Arm.TREATMENT, Arm.CONTROL, Arm.CONTROL, Arm.TREATMENT, Arm.TREATMENT, Arm.CONTROL],
        start=1))
    guessed = tuple(("coventry", n, guess) for n in range(1, 8))
    assert strata.extension_problems(held, guessed) == [CHANGED]
    one_row = strata.extension_problems(held, held[:1])
    assert one_row == ["Stratum coventry: this file stops before slot 2, which the current "
                       "list has"]
    for answer in (CHANGED, *one_row):
        assert "treatment" not in answer and "control" not in answer
