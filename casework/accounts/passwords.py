"""Password hashing (argon2id via argon2-cffi) and the password policy.

The policy follows NCSC guidance: length over complexity rules, a deny list
of the most common passwords (zxcvbn's list of 30,000), and zxcvbn's estimate
of how many guesses a password would take, knowing what a guesser would try
first: common words, names, sequences, keyboard patterns, dates, and the
person's own email and name and the service's and its sites' names.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 256
# zxcvbn's score 3: at least 10^8 guesses, "safely unguessable" by an online
# attack (sign-in is throttled per account, but a few guesses sprayed over
# many accounts barely touch that)
STRONG_ENOUGH = 3
# zxcvbn's cost grows with the square of the length (2 seconds for 72 of its
# look-alike characters, "4@8({[<3691!|7"): it scores this much of the start,
# which a longer password only adds to (at most 0.4 seconds)
SCORED_LENGTH = 32
# words a guesser at this service would try, whoever the user
SERVICE_WORDS = ("casework",)

# argon2-cffi's defaults are RFC 9106's low-memory argon2id profile.
_hasher = PasswordHasher()

# Verified when an email is unknown, so a failed login takes as long whether
# or not the account exists: a hash of a throwaway password made once with
# argon2-cffi's default parameters, so that starting the app (every worker,
# every command) does not spend a sixth of a second hashing. Should the
# defaults change, a fresh one with the new parameters is made on first use.
_DUMMY_HASH = ("$argon2id$v=19$m=65536,t=3,p=4$4ioO5PHNoA3mTJu+wDAjNg$"
               "tzSHEba2ndBehA7z8z0Gb1olsCrVPcxl9gYZSOK9FZc")


@cache
def _dummy_hash() -> str:
    if _hasher.check_needs_rehash(_DUMMY_HASH):
        return _hasher.hash("casework-timing-equaliser")
    return _DUMMY_HASH


@cache
def _common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def password_problem(password: str, *, email: str | None = None,
                     words: Iterable[str] = ()) -> str | None:
    """The reason ``password`` is not acceptable, or None when it is.
    ``words``: what else a guesser would try first for this user (their
    name, the sites' names), as their ``email`` is."""
    if len(password) < MIN_LENGTH:
        return f"Password must be {MIN_LENGTH} characters or more"
    if len(password) > MAX_LENGTH:
        return f"Password must be {MAX_LENGTH} characters or fewer"
    lowered = password.lower()
    if lowered in _common_passwords() or len(set(lowered)) <= 2:
        return "Password is too common: choose one that is harder to guess"
    if email and lowered == email.lower():
        return "Password must not be your email address"
    weakness = _weakness(password, [email or "", *words, *SERVICE_WORDS])
    if weakness is not None:
        return (f"Password is too easy to guess: {weakness}. Three or four random words "
                "make a good one")
    return None


# zxcvbn keeps the user's words in a dictionary of its module while it scores
_zxcvbn_lock = threading.Lock()


def _weakness(password: str, words: list[str]) -> str | None:
    """Why zxcvbn finds ``password`` guessable (its score below
    STRONG_ENOUGH), in plain words, or None when it does not."""
    from zxcvbn import zxcvbn

    inputs = {piece for word in words for piece in _pieces(word) if len(piece) >= 3}
    with _zxcvbn_lock:
        result = zxcvbn(password[:SCORED_LENGTH], user_inputs=sorted(inputs))
    if result["score"] >= STRONG_ENOUGH:
        return None
    # as zxcvbn's own feedback: the longest of the patterns it found
    found = [match for match in result["sequence"] if match["pattern"] != "bruteforce"]
    if not found:
        return "it is too short for the kinds of character in it"
    return _pattern_weakness(max(found, key=lambda match: len(match["token"])))


def _pieces(word: str) -> list[str]:
    """A name or email and the words within it: jo.smith@coventry.gov.uk,
    jo.smith, coventry.gov.uk, jo, smith, coventry, gov, uk, and josmith."""
    word = word.lower()
    local, _, domain = word.partition("@")
    inner = [piece for piece in re.split(r"[\W_]+", word) if piece]
    return [word, local, domain, *inner, "".join(re.split(r"[\W_]+", local))]


def _pattern_weakness(match: dict) -> str:
    pattern = match["pattern"]
    if pattern == "dictionary":
        if match["dictionary_name"] == "user_inputs":
            return "it has your name or email address, or the service's or a site's name, in it"
        if match.get("l33t"):
            return ("swapping letters for look-alike numbers or symbols (0 for o, @ for a) "
                    "makes a word hardly harder to guess")
        if match["dictionary_name"] == "passwords":
            return "it is close to a commonly used password"
        return "a common word or name with a few numbers or symbols is easy to guess"
    return {
        "repeat": "it repeats characters or a pattern (like abcabc)",
        "sequence": "it has a sequence in it (like abcd or 6543)",
        "spatial": "it has a keyboard pattern in it (like qwerty or zxcvbn)",
        "date": "it has a date in it",
        "regex": "it has a recent year in it",
    }.get(pattern, "it follows a pattern that is easy to guess")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Constant-effort check: a missing hash still costs one verification."""
    try:
        return _hasher.verify(stored_hash or _dummy_hash(), password) and \
            stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """True when the hash was made with parameters other than today's."""
    return _hasher.check_needs_rehash(stored_hash)
