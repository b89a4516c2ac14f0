"""Strata and allocation lists: site always, age band when configured.

Pure standard library (DESIGN.md "Randomisation").
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass

from casework.trial.sequence import Arm

# (label, youngest, oldest); None means no upper limit.
AGE_BANDS: tuple[tuple[str, int, int | None], ...] = (
    ("14-17", 14, 17),
    ("18-24", 18, 24),
    ("25+", 25, None),
)


def age_band(age: int) -> str:
    for label, youngest, oldest in AGE_BANDS:
        if age >= youngest and (oldest is None or age <= oldest):
            return label
    raise ValueError(f"Age {age} is below the youngest band ({AGE_BANDS[0][1]})")


def stratum_key(site_key: str, age: int | None, *, by_age_band: bool) -> str:
    """``coventry``, or ``coventry/18-24`` when strata include the age band."""
    if not by_age_band:
        return site_key
    if age is None:
        raise ValueError("An age band stratum needs the person's age")
    return f"{site_key}/{age_band(age)}"


def all_strata(site_keys, *, by_age_band: bool) -> list[str]:
    sites = sorted(site_keys)
    if not by_age_band:
        return sites
    return [f"{site}/{label}" for site in sites for label, _, _ in AGE_BANDS]


@dataclass(frozen=True)
class AllocationList:
    """An uploaded list: (stratum, slot, arm) rows and the file's SHA-256."""

    entries: tuple[tuple[str, int, Arm], ...]
    sha256: str


class AllocationListError(ValueError):
    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


MAX_PROBLEMS = 10


def parse_allocation_list(data: bytes, valid_strata) -> AllocationList:
    """Read an allocation list CSV with the header ``stratum,slot,arm``.

    Each stratum's slots must run 1, 2, 3… without gaps or repeats (they are
    used in order); arms are ``treatment`` or ``control``. Raises
    AllocationListError naming each bad line (at most ten).
    """
    valid_strata = set(valid_strata)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise AllocationListError(["The file must be a CSV saved as UTF-8"]) from None
    # lines ended by a carriage return alone (Excel for Mac's "CSV") were
    # refused with the csv module's own words (found by review)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    reader = csv.reader(io.StringIO(text))
    try:
        return _parse_rows(reader, valid_strata, data)
    except csv.Error as error:  # a field past the csv module's limit, say
        raise AllocationListError([f"The file is not a CSV this service can read: line "
                                   f"{reader.line_num} {_csv_problem(error)}"]) from None


def _csv_problem(error: csv.Error) -> str:
    """What the csv module found wrong, in plain words (its own were
    Python's, "field larger than field limit (131072)")."""
    if "field limit" in str(error):
        return (f"has a value longer than {csv.field_size_limit():,} characters "
                "(a stratum, slot or arm is a word or a number)")
    return "is not laid out as comma-separated values"


# a value from the file repeated in a message is cut to about this length:
# a 1.5 MB upload of long values gave a 2.6 MB page (found by review)
MAX_SHOWN = 40


def _shown(value: str) -> str:
    """``value`` quoted in a message, cut with an ellipsis past MAX_SHOWN."""
    return repr(value if len(value) <= MAX_SHOWN else value[:MAX_SHOWN] + "…")


def _parse_rows(reader, valid_strata: set[str], data: bytes) -> AllocationList:
    header = [h.strip().lower() for h in next(reader, [])]
    if header != ["stratum", "slot", "arm"]:
        raise AllocationListError(["The first line must be the header stratum,slot,arm"])
    problems: list[str] = []
    entries: list[tuple[str, int, Arm]] = []
    expected: dict[str, int] = {}
    # "Line N" is the line of the file the record starts on (a quoted value
    # may hold a line break): it counted records (found by review)
    ends = reader.line_num
    for row in reader:
        line_number, ends = ends + 1, reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != 3:
            problems.append(f"Line {line_number}: expected 3 values, found {len(row)}")
        else:
            stratum, slot_text, arm_text = (cell.strip() for cell in row)
            if stratum not in valid_strata:
                problems.append(f"Line {line_number}: stratum {_shown(stratum)} is not one of this "
                                f"trial's strata ({', '.join(sorted(valid_strata))})")
            elif not (slot_text.isascii() and slot_text.isdigit() and len(slot_text) <= 9) \
                    or int(slot_text) != expected.get(stratum, 1):
                problems.append(f"Line {line_number}: slot must be {expected.get(stratum, 1)} "
                                f"for stratum {stratum} (slots run 1, 2, 3… in order)")
            elif arm_text.lower() not in {a.value for a in Arm}:
                problems.append(f"Line {line_number}: arm must be treatment or control")
            else:
                expected[stratum] = int(slot_text) + 1
                entries.append((stratum, int(slot_text), Arm(arm_text.lower())))
        if len(problems) >= MAX_PROBLEMS:
            break
    if not problems and not entries:
        problems.append("The file has no allocations after the header")
    if problems:
        raise AllocationListError(problems)
    return AllocationList(tuple(entries), hashlib.sha256(data).hexdigest())


def extension_problems(current, new) -> list[str]:
    """Why the list ``new`` does not extend ``current``, or [] if it does.

    Once people have been randomised, their slots came from ``current``: a
    list that replaced it could give a used slot another arm, and the
    statistician could no longer check an allocation against the list held.
    So a new list keeps every row of ``current`` unchanged, each stratum's as
    its first slots, and only adds slots after them, or strata of its own (a
    site added to the trial). Unused slots are kept too: the statistician
    generated them, and the file cannot know which were used by the time it
    is sent.

    The answer never tells what the current list holds beyond its length:
    a file that stops short is told the first slot it lacks in each stratum,
    and one that has every slot but changes an arm is told only that,
    neither which row nor which arm. With two arms, naming a row that
    differs names the arm held there, so whoever can upload could read the
    slots not yet used, each an allocation to come (DESIGN.md
    "Randomisation": nobody else can see what comes next). The statistician
    compares their file with the one whose SHA-256 the trial's page shows."""
    given = {(stratum, slot): arm for stratum, slot, arm in new}
    problems: list[str] = []
    short: set[str] = set()
    for stratum, slot, _ in sorted(current, key=lambda row: row[:2]):
        if (stratum, slot) not in given and stratum not in short:
            short.add(stratum)
            problems.append(f"Stratum {stratum}: this file stops before slot {slot}, which the "
                            "current list has")
            if len(problems) >= MAX_PROBLEMS:
                break
    if problems:
        return problems
    if any(given[(stratum, slot)] != arm for stratum, slot, arm in current):
        return ["This file changes at least one row of the current list, which it must "
                "repeat unchanged. Compare it with the file whose SHA-256 this page shows for "
                "the current list (the rows are not named here: its unused slots are "
                "allocations to come)"]
    if len(given) == len(current):
        return ["This file adds no slots to the current list"]
    return []
