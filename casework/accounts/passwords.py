"""Password hashing (argon2id via argon2-cffi) and the password policy.

The policy follows NCSC guidance: length over complexity rules, and a deny
list of the most common passwords (zxcvbn's list of 30,000).
"""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 256

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


def password_problem(password: str, *, email: str | None = None) -> str | None:
    """The reason ``password`` is not acceptable, or None when it is."""
    if len(password) < MIN_LENGTH:
        return f"Password must be {MIN_LENGTH} characters or more"
    if len(password) > MAX_LENGTH:
        return f"Password must be {MAX_LENGTH} characters or fewer"
    lowered = password.lower()
    if lowered in _common_passwords() or len(set(lowered)) <= 2:
        return "Password is too common: choose one that is harder to guess"
    if email and lowered == email.lower():
        return "Password must not be your email address"
    return None


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
