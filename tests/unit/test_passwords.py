from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from casework.accounts import passwords


@pytest.mark.parametrize(
    ("candidate", "problem"),
    [
        ("short-pass1", "12 characters or more"),
        ("password1234", "too common"),
        ("Qwerty123456", "too common"),
        ("aaaaaaaaaaaaaa", "too common"),
        ("x" * 257, "256 characters or fewer"),
        ("someone@example.org", "email address"),
    ],
)
def test_rejected_passwords_say_why(candidate, problem):
    message = passwords.password_problem(candidate, email="someone@example.org")
    assert message and problem in message


def test_long_uncommon_password_is_accepted():
    assert passwords.password_problem("correct horse battery staple") is None


def test_hash_is_argon2id_and_verifies():
    stored = passwords.hash_password("correct horse battery staple")
    assert stored.startswith("$argon2id$")
    assert passwords.verify_password(stored, "correct horse battery staple")
    assert not passwords.verify_password(stored, "wrong horse battery staple")


def test_missing_hash_never_verifies():
    assert not passwords.verify_password(None, "casework-timing-equaliser")


def test_the_unknown_account_check_costs_what_a_real_one_does(monkeypatch):
    # the stored dummy has the default parameters, so verifying it costs as
    # much as verifying a real password's hash
    assert passwords._dummy_hash() == passwords._DUMMY_HASH
    assert not passwords.needs_rehash(passwords._DUMMY_HASH)
    assert PasswordHasher().verify(passwords._DUMMY_HASH, "casework-timing-equaliser")
    # with other parameters, a fresh dummy is made with them
    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=8,
                                                             parallelism=1))
    passwords._dummy_hash.cache_clear()
    fresh = passwords._dummy_hash()
    assert fresh != passwords._DUMMY_HASH and "m=8,t=1,p=1" in fresh


def test_rehash_needed_when_parameters_change():
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("a long password!")
    assert passwords.needs_rehash(weak)
    assert not passwords.needs_rehash(passwords.hash_password("a long password!"))
