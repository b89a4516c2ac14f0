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


# Twelve characters and off the list of common passwords, yet among the first
# an attacker spraying one guess over many accounts would try (found by review)
GUESSABLE = ["123456789012", "1234567890123", "abcdefghijkl", "123123123123", "abcabcabcabc",
             "passwordpassword", "Password123!", "Welcome12345", "passw0rd1234",
             "zxcvbnm12345", "casework2026!", "Coventry2026!"]


@pytest.mark.parametrize("candidate", GUESSABLE)
def test_guessable_patterns_are_refused_with_a_reason(candidate):
    message = passwords.password_problem(candidate, email="jo@x.org", words=["Coventry"])
    assert message and message.startswith("Password is too easy to guess: ")
    assert "Three or four random words make a good one" in message


@pytest.mark.parametrize(("candidate", "reason"), [
    ("abcdefghijkl", "sequence"),
    ("abcabcabcabc", "repeats"),
    ("passw0rd1234", "look-alike numbers or symbols"),
    ("Password123!", "commonly used password"),
    ("jo.smith2026", "your name or email address"),  # the email's local part
    ("KimOkafor2026", "your name or email address"),  # the display name
    ("Coventry2026!", "a site's name"),
])
def test_the_reason_is_said_in_plain_words(candidate, reason):
    message = passwords.password_problem(candidate, email="jo.smith@x.org",
                                         words=["Kim Okafor", "Coventry"])
    assert message and reason in message


def test_the_cost_of_scoring_is_bounded_for_a_long_password(monkeypatch):
    # zxcvbn's cost grows with the square of the length, and it refuses more
    # than 72 characters: a long password's start is scored
    import zxcvbn

    scored = []
    real = zxcvbn.zxcvbn

    def spy(password, **kwargs):
        scored.append(password)
        return real(password, **kwargs)

    monkeypatch.setattr(zxcvbn, "zxcvbn", spy)
    lookalikes = "4@8({[<3691!|70$5%2+" * 12  # 240 of zxcvbn's slowest characters
    assert passwords.password_problem(lookalikes) is None
    assert scored == [lookalikes[:passwords.SCORED_LENGTH]]
    assert passwords.password_problem("abc" * 80) is not None  # a weak start is weak


def test_the_demo_and_test_passwords_pass():
    import secrets

    from tests.conftest import PASSWORD

    assert passwords.password_problem(PASSWORD, email="someone@example.org") is None
    for _ in range(50):  # seed-demo's
        assert passwords.password_problem(secrets.token_urlsafe(12)) is None


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
