"""Duplicate matching rules, each with true matches and non-matches."""

from __future__ import annotations

from datetime import date

import pytest

from casework.intake.matching import (
    KEY_LENGTH,
    Identity,
    first_name_key,
    match_reasons,
    normalise_name,
    one_digit_away,
    related_dates,
    same_first_name,
    swapped,
)

DOB = date(2008, 3, 14)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("O'Brien", "obrien"), ("Smith-Jones", "smithjones"), ("  ZOË  ", "zoe"),
     ("José María", "josemaria"), ("D\N{RIGHT SINGLE QUOTATION MARK}Souza", "dsouza"),
     ("mc donald", "mcdonald")],
)
def test_normalise_name(raw, expected):
    assert normalise_name(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("Łukasz", "lukasz"), ("WÓJCIK", "wojcik"), ("Søren", "soren"), ("ØSTERGÅRD", "ostergard"),
     ("Đorđević", "dordevic"), ("Iğd\u0131r", "igdir"), ("Ægir", "aegir"), ("Œuvre", "oeuvre"),
     ("Guðrún", "gudrun"), ("Þór", "thor"), ("Straße", "strasse"), ("Ħal", "hal")],
)
def test_a_letter_of_its_own_is_written_as_plain_letters(raw, expected):
    """Letters with no accent to take off ("ł", "ø", "æ") were dropped:
    "Łukasz" gave "ukasz", never "lukasz", the name typed without them."""
    assert normalise_name(raw) == expected


@pytest.mark.parametrize(
    ("name", "key"),
    [("Bob", "robert"), ("Robert", "robert"), ("bobby", "robert"), ("Mo", "mohammed"),
     ("Muhammad", "mohammed"), ("Liam", "william"), ("Jamal", "jamal"),
     ("Kate Louise", "katherine")],
)
def test_nicknames_map_to_one_first_name(name, key):
    assert first_name_key(name) == key


def test_swapped_dates():
    assert swapped(date(2008, 3, 14)) is None  # no 14th month
    assert swapped(date(2008, 3, 4)) == date(2008, 4, 3)
    assert swapped(date(2008, 5, 5)) is None  # the same date


def test_one_digit_away():
    near = one_digit_away(date(2008, 3, 14))
    assert date(2008, 3, 15) in near and date(2009, 3, 14) in near
    assert date(2008, 3, 16) in near
    assert date(2008, 3, 14) not in near
    assert date(2008, 4, 15) not in near  # two digits
    assert related_dates(date(2008, 3, 4))[date(2008, 4, 3)] == "swapped"


def person(first="Jordan", last="Smith", dob=DOB, pnc=None):
    return Identity(first, last, dob, pnc)


@pytest.mark.parametrize(
    ("new", "expected_reason"),
    [
        (person(), "Same date of birth"),
        (person(dob=date(2008, 3, 15)), "Date of birth one digit different"),
        (person(last="Smyth"), "Similar surname (Smith and Smyth)"),
        (person(last="SMITH"), "Same surname"),
        (person(first="Jordan", last="Smith", dob=None), "Date of birth not known"),
        (person(first="Zed", last="Other", dob=date(1990, 1, 1), pnc="12/3456A"),
         "Same PNC reference"),
    ],
)
def test_true_matches_say_why(new, expected_reason):
    existing = person(pnc="12/3456A")
    reasons = match_reasons(new, existing)
    assert any(reason.startswith(expected_reason) for reason in reasons), reasons


def test_nickname_match():
    reasons = match_reasons(person(first="Bob"), person(first="Robert"))
    assert "First names are forms of one name (Robert and Bob)" in reasons


@pytest.mark.parametrize(("one", "other", "same"), [
    ("Mary-Jane", "Mary Jane", True), ("Bob", "Robert", True),
    ("Jean\N{EN DASH}Luc", "Jean Luc", True),
    ("Lily-Rose", "Lily-Mae", False), ("Kate Louise", "Kate", False), ("", "", False),
])
def test_the_same_first_name_however_written(one, other, same):
    assert same_first_name(one, other) is same


def test_twins_first_names_begin_alike_they_are_not_the_same():
    """Lily-Rose and Lily-Mae share a key, a surname and a date of birth: a
    near match to look at, not "Same first name"."""
    reasons = match_reasons(person(first="Lily-Mae"), person(first="Lily-Rose"))
    assert reasons[0] == "First names begin alike (Lily-Rose and Lily-Mae)"
    assert match_reasons(person(first="Mary Jane"), person(first="Mary-Jane"))[0] == (
        "Same first name")


def test_day_and_month_swapped():
    reasons = match_reasons(person(dob=date(2008, 4, 3)), person(dob=date(2008, 3, 4)))
    assert any("day and month swapped" in r for r in reasons)


def test_hyphen_and_accent_differences_are_the_same_surname():
    reasons = match_reasons(person(last="Smith Jones"), person(last="Smith-Jones"))
    assert any(r.startswith("Same surname once accents") for r in reasons)


@pytest.mark.parametrize(
    "new",
    [
        person(first="Callum"),                       # different first name
        person(dob=date(2001, 7, 30)),                # unrelated date of birth
        person(last="Patel"),                         # dissimilar surname
        person(last="Smyth", dob=None),               # similar only, and no date to support it
        person(dob=date(2009, 4, 15)),                # three digits different
    ],
)
def test_non_matches(new):
    assert match_reasons(new, person()) == []


def test_a_key_is_cut_to_its_columns_length():
    """Normalising lengthens "ß" and "ﬃ": a name of 100 characters, which
    the form takes, gives a key the column holds."""
    assert normalise_name("ß" * 60) == "s" * KEY_LENGTH
    assert first_name_key("ﬃ" * 100) == ("ffi" * 100)[:KEY_LENGTH]


@pytest.mark.parametrize(
    ("spaced", "hyphenated", "key"),
    [("Mary Jane", "Mary-Jane", "mary"), ("Jean Luc", "Jean-Luc", "jean"),
     ("Jean Luc", "Jean\N{EN DASH}Luc", "jean"), ("Bobby Joe", "Bobby-Joe", "robert")],
)
def test_a_first_name_spaced_or_hyphenated_is_one_key(spaced, hyphenated, key):
    assert first_name_key(spaced) == first_name_key(hyphenated) == key
    reasons = match_reasons(person(first=spaced), person(first=hyphenated))
    assert "Same first name" in reasons and "Same date of birth" in reasons


@pytest.mark.parametrize(("typed", "held"), [
    ("Annemarie", "Anne-Marie"), ("Anne-Marie", "Annemarie"), ("AnneMarie", "Anne Marie"),
    ("Lilyrose", "Lily-Rose"),
])
def test_a_first_name_written_together_and_apart_is_one_name(typed, held):
    """Keyed "annemarie" and "anne", they were no match however alike the rest."""
    reasons = match_reasons(person(first=typed), person(first=held))
    assert reasons[0] == f"First names are one name written together and apart ({held} and " \
        f"{typed})" or reasons[0] == "Same first name"
    assert "Same date of birth" in reasons


@pytest.mark.parametrize(("typed", "held", "reason"), [
    ("Jones", "Smith-Jones", "One surname is part of the other (Smith-Jones and Jones)"),
    ("Smith", "Smith-Jones", "One surname is part of the other (Smith-Jones and Smith)"),
    ("Hassan", "Al Hassan", "One surname is part of the other (Al Hassan and Hassan)"),
    ("Jones-Smith", "Smith-Jones",
     "Surnames of the same parts in another order (Smith-Jones and Jones-Smith)"),
])
def test_a_double_barrelled_surname_written_in_part_is_a_near_match(typed, held, reason):
    """"Mia Jones" and "Mia Smith-Jones", born the same day, were no match."""
    assert reason in match_reasons(person(last=typed), person(last=held))


@pytest.mark.parametrize(("new", "existing"), [
    (person(first="Anne"), person(first="Anne-Marie")),        # begin alike: another name
    (person(first="Annemarie", dob=date(2001, 7, 30)), person(first="Anne-Marie")),
    (person(last="Jones"), person(last="Smith-Brown")),         # no part shared
    (person(last="Jones", dob=None), person(last="Smith-Jones")),  # and no date to support it
    (person(last="Jones-Brown"), person(last="Smith-Jones")),   # a part each of its own
])
def test_written_together_or_in_part_alone_is_no_match(new, existing):
    reasons = match_reasons(new, existing)
    assert not any("together" in r or "part" in r for r in reasons), reasons
