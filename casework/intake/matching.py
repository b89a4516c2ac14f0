"""Duplicate detection: is an incoming person someone casework already holds?

DESIGN.md "Referral intake": candidates by normalised name (case, accents,
hyphens and apostrophes, common nicknames) and date of birth (exact, day and
month swapped, one digit different), and by PNC reference, each with the
reason it matched. Name similarity uses rapidfuzz's Jaro-Winkler, which suits
short strings such as surnames with a transposed or mistyped letter.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date

from rapidfuzz.distance import JaroWinkler

SIMILAR_SURNAME = 0.88

# The reasons a strong match gives: a person of another site is shown with
# these alone (see intake.services.find_candidates)
SAME_PNC = "Same PNC reference"
SAME_NAME_AND_DATE_OF_BIRTH = "Same name and date of birth"

# The length of the name-key columns (Person.first_name_key, last_name_key).
# Normalising can lengthen a name ("ß" gives "ss", "ﬃ" gives "ffi"), so a
# name the form accepts (100 characters) can give a longer key: every key is
# cut to this, for storing and for searching alike.
KEY_LENGTH = 100

# Common English nicknames and spelling variants → one canonical first name.
_NICKNAME_GROUPS = {
    "alexander": "alex alec alexandra sandy xander",
    "andrew": "andy drew",
    "anthony": "tony antony",
    "benjamin": "ben benny benji",
    "charles": "charlie chuck chaz",
    "christopher": "chris kit",
    "daniel": "dan danny",
    "david": "dave davey",
    "edward": "ed eddie ted teddy",
    "elizabeth": "liz lizzie beth betty eliza libby",
    "francis": "frank frankie",
    "henry": "harry hal",
    "jacob": "jake",
    "james": "jim jimmy jamie",
    "jennifer": "jen jenny",
    "john": "johnny jack jon",
    "jonathan": "jonny",
    "joseph": "joe joey",
    "joshua": "josh",
    "katherine": "kate katie kath kathy catherine kathryn cathy",
    "kenneth": "ken kenny",
    "lawrence": "larry laurence",
    "margaret": "maggie meg peggy",
    "matthew": "matt matty",
    "michael": "mike mick mickey",
    "mohammed": "mohammad mohamed muhammad muhammed mohamad mo",
    "nathaniel": "nathan nate",
    "nicholas": "nick nicky",
    "patrick": "pat paddy",
    "peter": "pete",
    "rebecca": "becky becca",
    "richard": "rich rick ricky dick",
    "robert": "rob robbie bob bobby bert",
    "ronald": "ron ronnie",
    "samuel": "sam sammy",
    "stephen": "steve steven stevie",
    "thomas": "tom tommy",
    "timothy": "tim timmy",
    "victoria": "vicky vikki tori",
    "william": "will bill billy liam willie",
    "zachary": "zach zack",
}
NICKNAMES: dict[str, str] = {
    variant: canonical
    for canonical, variants in _NICKNAME_GROUPS.items()
    for variant in variants.split()
}


# Latin letters that are no accented letter to Unicode, so decomposing them
# leaves no plain letter behind: each written as English spelling writes it
# ("Łukasz" is "Lukasz", "Søren" "Soren"). Dropped, they made "ukasz" and
# "sren", and the person typed without them was no candidate. (Casefolding
# already gives "ss" for "ß" and "ẞ".)
_LETTERS_APART = str.maketrans({
    "ł": "l", "ø": "o", "đ": "d", "\u0131": "i", "æ": "ae", "œ": "oe", "ð": "d", "þ": "th",
    "ħ": "h", "ŧ": "t", "ŋ": "ng", "ĸ": "k", "ƒ": "f",
})


def normalise_name(name: str) -> str:
    """Lower case, accents removed, apostrophes, hyphens and spaces dropped:
    "O'Brien-Lée" and "obrien lee" both give "obrienlee"; a letter of its
    own ("ł", "ø", "æ") written as plain letters (``_LETTERS_APART``). At
    most KEY_LENGTH characters, so that it fits the key columns (a longer
    one is cut)."""
    decomposed = unicodedata.normalize("NFKD", name or "")
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"[^a-z0-9]", "", plain.casefold().translate(_LETTERS_APART))[:KEY_LENGTH]


def _first_part(name: str) -> str:
    """The first name's first part, up to a space or a hyphen: "Mary Jane"
    and "Mary-Jane" are one name written two ways, and both give "Mary" (as
    "Kate Louise", a first name and a middle name, gives "Kate"). Cut at the
    space alone, "Mary-Jane" was one word, keyed "maryjane", and never met
    "Mary Jane" (keyed "mary")."""
    spaced = "".join(" " if unicodedata.category(ch) == "Pd" else ch for ch in name or "")
    parts = spaced.split()
    return parts[0] if parts else ""


def _later_parts(name: str) -> str:
    """The first name after its first part, normalised ("Rose" of "Lily-Rose")."""
    spaced = "".join(" " if unicodedata.category(ch) == "Pd" else ch for ch in name or "")
    return normalise_name(" ".join(spaced.split()[1:]))


def same_first_name(one: str, other: str) -> bool:
    """The same first name, however written: the same key (nicknames mapped)
    and the same later parts. "Mary-Jane" is "Mary Jane", and "Bob" is
    "Robert"; "Lily-Rose" is not "Lily-Mae", though both are keyed "lily"
    (twins share a surname and a date of birth)."""
    return (bool(first_name_key(one)) and first_name_key(one) == first_name_key(other)
            and _later_parts(one) == _later_parts(other))


def first_name_key(name: str) -> str:
    """The normalised first part of the first name, with nicknames mapped to
    one form (Bob → robert; "Bobby-Joe" → robert)."""
    key = plain_first_name_key(name)
    return NICKNAMES.get(key, key)


def plain_first_name_key(name: str) -> str:
    """The normalised first part of the first name, as written: no nickname
    mapped ("Chris" → chris, where first_name_key gives christopher)."""
    return normalise_name(_first_part(name))


def last_name_key(name: str) -> str:
    return normalise_name(name)


def identity_locks(pnc_reference: str | None, first_name: str | None, last_name: str | None,
                   date_of_birth: date | None, *, pnc_only: bool = False) -> list[str]:
    """The names of the locks serialising the writers of one child (a
    strong match's keys: the PNC reference; the name keys with the date of
    birth), in the one order they are taken in, so two writers never each
    hold what the other waits for. Intake takes them before its duplicate
    check, a lead's decision before its "already randomised" check (C4)."""
    names = []
    if pnc_reference:
        names.append(f"pnc:{pnc_reference}")
    first_key = first_name_key(first_name or "")
    last_key = last_name_key(last_name or "")
    if not pnc_only and first_key and last_key and date_of_birth:
        names.append(f"person:{last_key}:{first_key}:{date_of_birth.isoformat()}")
    return sorted(names)


def written_together(one: str, other: str) -> bool:
    """One first name written together and apart: "Annemarie" and
    "Anne-Marie" (or "Anne Marie"), whose keys differ (annemarie, anne)."""
    return bool(normalise_name(one)) and normalise_name(one) == normalise_name(other)


def keys_written_together(name: str) -> set[str]:
    """The first-name keys of the names ``name`` may be written together or
    apart (``written_together``): each beginning of it written together
    ("anne" for "Annemarie"), and all of it ("annemarie" for "Anne-Marie").
    The duplicate check reads the people keyed so, as a key names them."""
    whole = normalise_name(name)
    return {whole[:end] for end in range(2, len(whole) + 1)}


def _surname_parts(name: str) -> set[str]:
    spaced = "".join(" " if unicodedata.category(ch) == "Pd" else ch for ch in name or "")
    return {key for key in map(normalise_name, spaced.split()) if key}


def surname_within(one: str, other: str) -> bool:
    """One surname's parts are among the other's, one of them of several
    parts: "Jones" and "Smith-Jones", "Jones-Smith" and "Smith-Jones" (a
    double-barrelled surname written in part, or its parts turned round)."""
    mine, theirs = _surname_parts(one), _surname_parts(other)
    return bool(mine and theirs) and max(len(mine), len(theirs)) > 1 \
        and (mine <= theirs or theirs <= mine)


def swapped(dob: date) -> date | None:
    """Day and month exchanged, if that is a different real date."""
    try:
        other = date(dob.year, dob.day, dob.month)
    except ValueError:
        return None
    return other if other != dob else None


def one_digit_away(dob: date) -> set[date]:
    """Every real date whose YYYYMMDD differs from ``dob``'s in exactly one digit."""
    digits = dob.strftime("%Y%m%d")
    found = set()
    for position in range(8):
        for replacement in "0123456789":
            if replacement == digits[position]:
                continue
            text = digits[:position] + replacement + digits[position + 1:]
            try:
                found.add(date(int(text[:4]), int(text[4:6]), int(text[6:])))
            except ValueError:
                continue
    return found


def related_dates(dob: date) -> dict[date, str]:
    """Dates of birth worth comparing with ``dob``, with how each relates."""
    related = {d: "one_digit" for d in one_digit_away(dob)}
    other = swapped(dob)
    if other is not None:
        related[other] = "swapped"
    related[dob] = "exact"
    return related


@dataclass(frozen=True)
class Identity:
    """What matching compares: names as typed, date of birth, PNC reference."""

    first_name: str
    last_name: str
    date_of_birth: date | None
    pnc_reference: str | None = None


def _dob_reason(new: date | None, old: date | None) -> tuple[str | None, str | None]:
    """(relation, sentence) for two dates of birth; (None, None) if unrelated."""
    if new is None or old is None:
        return "unknown", "Date of birth not known on one record"
    relation = related_dates(new).get(old)
    sentences = {
        "exact": "Same date of birth",
        "swapped": f"Date of birth with day and month swapped ({new:%d/%m/%Y} and {old:%d/%m/%Y})",
        "one_digit": f"Date of birth one digit different ({new:%d/%m/%Y} and {old:%d/%m/%Y})",
    }
    return (relation, sentences[relation]) if relation else (None, None)


def match_reasons(new: Identity, existing: Identity) -> list[str]:
    """Why ``existing`` may be the same person as ``new``; empty if it is not.

    A candidate is a match when the PNC references agree, or when the dates of
    birth are related (same, day and month swapped, one digit different) and
    the names agree: first names equal after nickname mapping (or one name
    written together and apart: ``written_together``) and surnames equal,
    similar, or one's parts among the other's (``surname_within``). With a
    date of birth missing on either side, the surnames must agree exactly
    after normalisation.
    """
    reasons: list[str] = []
    if new.pnc_reference and existing.pnc_reference \
            and new.pnc_reference == existing.pnc_reference:
        reasons.append(SAME_PNC)

    new_first, old_first = first_name_key(new.first_name), first_name_key(existing.first_name)
    new_last, old_last = last_name_key(new.last_name), last_name_key(existing.last_name)
    together = written_together(new.first_name, existing.first_name)
    first_same = (bool(new_first) and new_first == old_first) or together
    last_same = bool(new_last) and new_last == old_last
    last_within = not last_same and surname_within(new.last_name, existing.last_name)
    last_similar = last_same or last_within \
        or JaroWinkler.similarity(new_last, old_last) >= SIMILAR_SURNAME

    relation, dob_sentence = _dob_reason(new.date_of_birth, existing.date_of_birth)
    names_match = first_same and (last_similar if relation in {"exact", "swapped", "one_digit"}
                                  else last_same)
    if relation and names_match:
        first_parts_same = normalise_name(_first_part(new.first_name)) \
            == normalise_name(_first_part(existing.first_name))
        if first_parts_same and same_first_name(new.first_name, existing.first_name):
            reasons.append("Same first name")
        elif first_parts_same:
            reasons.append(f"First names begin alike ({existing.first_name} and "
                           f"{new.first_name})")
        elif together:
            reasons.append(f"First names are one name written together and apart "
                           f"({existing.first_name} and {new.first_name})")
        else:
            reasons.append(
                f"First names are forms of one name ({existing.first_name} and {new.first_name})"
            )
        if last_same:
            reasons.append("Same surname" if new.last_name.strip().casefold()
                           == existing.last_name.strip().casefold()
                           else f"Same surname once accents, hyphens and apostrophes are "
                                f"ignored ({existing.last_name} and {new.last_name})")
        elif last_within and _surname_parts(new.last_name) == _surname_parts(existing.last_name):
            reasons.append(f"Surnames of the same parts in another order ({existing.last_name} "
                           f"and {new.last_name})")
        elif last_within:
            reasons.append(f"One surname is part of the other ({existing.last_name} and "
                           f"{new.last_name})")
        else:
            reasons.append(f"Similar surname ({existing.last_name} and {new.last_name})")
        reasons.append(dob_sentence)
    return reasons
