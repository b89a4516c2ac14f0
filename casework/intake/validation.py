"""Rules for referral and person details, shared by forms and services.

Pure standard library. Messages follow the GOV.UK design system's patterns.
"""

from __future__ import annotations

import re
from datetime import date

MAX_AGE_YEARS = 100

# The UK postcode format (outward code, space, inward code), as published in
# the government's bulk data transfer schema; GIR 0AA is the one exception.
_POSTCODE = re.compile(
    r"^(GIR ?0AA|"
    r"(?:[A-PR-UWYZ][0-9][0-9]?|[A-PR-UWYZ][A-HK-Y][0-9][0-9]?|"
    r"[A-PR-UWYZ][0-9][A-HJKPSTUW]|[A-PR-UWYZ][A-HK-Y][0-9][ABEHMNPRVWXY]) ?"
    r"[0-9][ABD-HJLNP-UW-Z]{2})$"
)

# Police National Computer ID: two-digit year, slash, serial, check letter.
_PNC = re.compile(r"^(\d{2})/?(\d{1,7})([A-Z])$")


def normalise_postcode(raw: str) -> str:
    """Upper case with one space before the inward code; ValueError if not a UK postcode."""
    compact = re.sub(r"\s+", "", raw or "").upper()
    if not _POSTCODE.match(compact) or len(compact) < 5:
        raise ValueError("Enter a real postcode, like B1 1AA")
    return f"{compact[:-3]} {compact[-3:]}"


def normalise_pnc(raw: str) -> str:
    """``YY/NNNNNNNA`` with the serial's leading zeros removed; ValueError otherwise."""
    compact = re.sub(r"\s+", "", raw or "").upper()
    match = _PNC.match(compact)
    if not match:
        raise ValueError("Enter a PNC reference in the format 12/345678A")
    year, serial, letter = match.groups()
    return f"{year}/{int(serial)}{letter}"


def years_between(earlier: date, later: date) -> int:
    """Whole years from ``earlier`` to ``later`` (age on a date); 29 February
    birthdays fall on 1 March in other years."""
    years = later.year - earlier.year
    if (later.month, later.day) < (earlier.month, earlier.day):
        years -= 1
    return years


def date_of_birth_problem(dob: date | None, today: date) -> str | None:
    if dob is None:
        return None
    if dob > today:
        return "Date of birth must be today or in the past"
    # DESIGN.md "Referral intake": refuse a date of birth "making the person
    # over 100"; one of exactly 100 is a real age (it was refused)
    if years_between(dob, today) > MAX_AGE_YEARS:
        return f"Date of birth must make the person {MAX_AGE_YEARS} or younger"
    return None


def referral_date_problem(referral_date: date | None, dob: date | None, today: date) -> str | None:
    if referral_date is None:
        return "Enter the referral date"
    if referral_date > today:
        return "Referral date must be today or in the past"
    if dob is not None and referral_date < dob:
        return "Referral date must be on or after the date of birth"
    return None
