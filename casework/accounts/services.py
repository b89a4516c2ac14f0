"""Account operations: sign-in, and user administration.

Services flush and never commit; each writes its audit event in the caller's
transaction.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager, defer

from casework import submissions
from casework.accounts.models import Site, User, user_sites
from casework.accounts.passwords import (
    hash_password,
    needs_rehash,
    password_problem,
    verify_password,
)
from casework.accounts.roles import SITE_SCOPED_ROLES, Role
from casework.audit import services as audit
from casework.audit.actions import Action
from casework.database import (
    Paged,
    check_unchanged,
    lock_for_update,
    lock_row,
    page_within,
    row_version,
)
from casework.extensions import db


class AccountError(Exception):
    """A request about an account that cannot be carried out.

    ``problems`` maps each form field (or None, for the form as a whole) to
    the message to show beside it, so every problem is reported at once.
    """

    def __init__(self, message: str | None = None, field: str | None = None,
                 *, problems: dict[str | None, str] | None = None):
        self.problems = dict(problems) if problems else {field: message}
        self.field, self.message = next(iter(self.problems.items()))
        super().__init__(self.message)


def normalise_email(email: str) -> str:
    return email.replace("\x00", "").strip().lower()  # NUL: never typed, refused by PostgreSQL


def find_user_by_email(email: str) -> User | None:
    return db.session.execute(
        select(User).where(User.email == normalise_email(email))
    ).scalar_one_or_none()


@cache
def _by_session_token():
    # Built once: every request runs it, and building it cost as much as running it.
    # Joined flat (users, then their user_sites rows by the (user, site) key,
    # then sites), not as joinedload's nested (user_sites JOIN sites), which
    # SQLite builds in full, for every user, on every request.
    return (select(User)
            .outerjoin(user_sites, user_sites.c.user_id == User.id)
            .outerjoin(Site, Site.id == user_sites.c.site_id)
            .options(contains_eager(User.sites),
                     defer(User.password_hash), defer(User.created_at), defer(User.last_login_at))
            .where(User.session_token == bindparam("token"), User.active.is_(True))
            .order_by(Site.name))


def user_by_session_token(token: str) -> User | None:
    """The signed-in user of a session, with their sites (every page needs
    both, so in one query); None once the account is deactivated or its
    sessions ended."""
    return db.session.execute(_by_session_token(), {"token": token}) \
        .unique().scalar_one_or_none()


def sites_by_keys(keys: Iterable[str]) -> list[Site]:
    wanted = {k.strip().lower() for k in keys if k.strip()}
    sites = db.session.execute(
        select(Site).where(Site.key.in_(wanted)).order_by(Site.key)
    ).scalars().all()
    missing = wanted - {s.key for s in sites}
    if missing:
        known = ", ".join(all_site_keys())
        raise AccountError(
            f"Unknown site {', '.join(sorted(missing))}; choose from {known}", field="sites"
        )
    return list(sites)


SITE_KEY = re.compile(r"[a-z][a-z0-9_]{1,39}")


@dataclass(frozen=True)
class SitesPage(Paged):
    sites: list[tuple[Site, int]]
    total: int
    page: int
    per_page: int


def sites_page(page: int, *, per_page: int = 50) -> SitesPage:
    """A page of sites by name, each with how many active users work there."""
    total = db.session.scalar(select(func.count()).select_from(Site))
    page = page_within(page, total, per_page)
    staff = (select(func.count()).select_from(user_sites)
             .join(User, User.id == user_sites.c.user_id)
             .where(user_sites.c.site_id == Site.id, User.active.is_(True))
             .correlate(Site).scalar_subquery())
    rows = db.session.execute(select(Site, staff).order_by(Site.name, Site.id)
                              .offset((page - 1) * per_page).limit(per_page)).all()
    return SitesPage([(site, users) for site, users in rows], total, page, per_page)


def _site_name_problem(name: str, site: Site | None) -> str | None:
    if not name:
        return "Enter the site's name"
    if len(name) > 100:
        return "The name must be 100 characters or fewer"
    if problem := unseen_characters_problem(name, "site's name"):
        return problem
    clash = select(func.count()).select_from(Site).where(func.lower(Site.name) == name.lower())
    if site is not None:
        clash = clash.where(Site.id != site.id)
    if db.session.scalar(clash):
        return "A site with this name already exists"
    return None


def new_site_problems(key: str, name: str) -> dict[str | None, str | None]:
    """What is wrong with a new site's key and name, field by field (None
    where nothing is): create_site's rules, read under its lock there; for
    the form with errors of its own too, so that each is shown with them
    (a name taken was said only once a key was given)."""
    key, name = (key or "").strip().lower(), " ".join((name or "").split())
    key_problem = None
    if not SITE_KEY.fullmatch(key):
        key_problem = ("Enter a key of 2 to 40 characters: lower-case letters, digits and "
                       "underscores, starting with a letter")
    elif db.session.scalar(select(func.count()).select_from(Site).where(Site.key == key)):
        key_problem = "A site with this key already exists"
    return {"key": key_problem, "name": _site_name_problem(name, None)}


def create_site(key: str, name: str, *, actor: User, now: datetime) -> Site:
    """Add a site (a youth offending service's area). Its key names it in
    trials' strata, extracts and commands, so it never changes."""
    key, name = (key or "").strip().lower(), " ".join((name or "").split())
    # one admin at a time adds or renames a site, so two cannot both find a
    # key or name free and then collide
    lock_for_update(db.session, "sites")
    _raise_if(new_site_problems(key, name))
    site = Site(key=key, name=name, is_trial_site=False)
    db.session.add(site)
    db.session.flush()
    audit.record(Action.SITE_CREATED, actor=actor, now=now, subject_type="site",
                 subject_id=site.id, site_id=site.id,
                 detail=audit.changes({}, {"key": key, "name": name}))
    return site


def rename_site(site: Site, name: str, *, actor: User, now: datetime) -> Site:
    name = " ".join((name or "").split())
    lock_for_update(db.session, "sites")
    _raise_if({"name": _site_name_problem(name, site)})
    diff = audit.changes({"name": site.name}, {"name": name})
    site.name = name
    db.session.flush()
    if diff:
        audit.record(Action.SITE_UPDATED, actor=actor, now=now, subject_type="site",
                     subject_id=site.id, site_id=site.id, detail=diff)
    return site


def all_sites() -> list[Site]:
    return list(db.session.execute(select(Site).order_by(Site.name)).scalars())


def all_site_keys() -> list[str]:
    return [s.key for s in all_sites()]


def authenticate(email: str, password: str, *, now: datetime) -> User | None:
    """Check a sign-in attempt; record ``auth:login`` or ``auth:login_failed``.

    Every failure looks the same to the person signing in (the caller shows one
    message), and an unknown email costs one hash verification like a known
    one, so neither the message nor the timing says whether an account exists.
    """
    user = find_user_by_email(email)
    ok = verify_password(user.password_hash if user else None, password)
    if user is None or not ok or not user.active:
        reason = (
            "unknown_account" if user is None
            else "wrong_password" if not ok
            else "account_inactive"
        )
        # by whoever tried (not signed in), about the account tried: listed
        # as that user's own actions, an attacker's guesses read as theirs
        audit.record(
            Action.AUTH_LOGIN_FAILED, actor=None, anonymous=True, now=now,
            subject_type="user" if user else None,
            subject_id=user.id if user else None,
            detail={"reason": reason},
        )
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
        audit.record(
            Action.AUTH_PASSWORD_REHASHED, actor=user, now=now,
            subject_type="user", subject_id=user.id,
        )
    user.last_login_at = now
    audit.record(Action.AUTH_LOGIN, actor=user, now=now, subject_type="user", subject_id=user.id)
    db.session.flush()
    return user


def _site_problem(role: Role, sites: list[Site]) -> str | None:
    if role in SITE_SCOPED_ROLES and not sites:
        return f"A {role.value} needs at least one site"
    return None


MAX_EMAIL_LENGTH, MAX_NAME_LENGTH = 254, 120  # the columns' lengths
MAX_LOCAL_PART_LENGTH = 64  # RFC 5321 4.5.3.1.1
EMAIL_FORMAT = "Enter an email address in the correct format, like name@example.org"


def email_problem(email: str) -> str | None:
    """Why ``email`` (normalised) cannot be an account's address, or None.

    Its structure only, the way it is written to a person (RFC 5321's
    mailbox, without the quoted and bracketed forms nobody's work address
    uses): one @, a local part of 1 to 64 characters, a domain of labels
    separated by dots (at least two), each of letters, digits and hyphens,
    not starting or ending with a hyphen; no spaces anywhere. Whether mail
    is delivered there is not asked: an address is given by whoever runs
    the service, and sign-in never sends mail."""
    if not email:
        return "Enter an email address"
    if len(email) > MAX_EMAIL_LENGTH:
        return f"The email address must be {MAX_EMAIL_LENGTH} characters or fewer"
    local, at, domain = email.partition("@")
    labels = domain.split(".")
    if (not at or "@" in domain or not local or len(local) > MAX_LOCAL_PART_LENGTH
            or any(c.isspace() or not c.isprintable() for c in email)
            or local.startswith(".") or local.endswith(".") or ".." in local
            or len(labels) < 2 or not all(_DOMAIN_LABEL.fullmatch(label) for label in labels)):
        return EMAIL_FORMAT
    return None


# letters of any script (an internationalised domain), digits and inner hyphens
_DOMAIN_LABEL = re.compile(r"(?!-)[^\W_]([^\W_]|-){0,62}(?<!-)")


def _clean_name(display_name: str) -> str:
    """A display name as stored: without NUL (never typed; PostgreSQL refuses
    it: the command line passes what it is given) or surrounding spaces."""
    return display_name.replace("\x00", "").strip()


def _display_name_problem(display_name: str) -> str | None:
    name = _clean_name(display_name)
    if not name:
        return "Enter a display name"
    if len(name) > MAX_NAME_LENGTH:
        return f"The display name must be {MAX_NAME_LENGTH} characters or fewer"
    return unseen_characters_problem(name, "display name")


def unseen_characters_problem(text: str, what: str) -> str | None:
    """Why ``text``, a name shown to people (``what``: "display name"), is
    refused for the characters in it, or None: a control character or an
    invisible format character. Shared by the names admins give things (the
    C5 exclusions' titles), which took a bell character (found by review)."""
    # a tab, a line break or an escape (the command line passes what it is
    # given) would break the lines of logs, lists and extracts it is shown in
    if any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in text):
        return f"The {what} must not contain control characters (tabs, line breaks)"
    # nor an invisible format character: a right-to-left override shows the
    # name, and whatever follows it on its line, backwards (found by review)
    if any(unicodedata.category(ch) == "Cf" and ch not in _JOINERS for ch in text):
        return (f"The {what} must not contain invisible formatting characters (such as "
                "a right-to-left override)")
    # nor what is no character at all: a noncharacter (U+FFFE, U+FFFF, ...)
    # or half a surrogate pair, which XML cannot hold (the CONSORT diagram's
    # SVG was invalid: found by review)
    if any(_not_a_character(ch) for ch in text):
        return f"The {what} must not contain characters that are not text (such as U+FFFE)"
    return None


def _not_a_character(ch: str) -> bool:
    code = ord(ch)
    return (0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE
            or 0xD800 <= code <= 0xDFFF)


# the zero-width non-joiner and joiner, which names in Persian and in Indic
# scripts need, and which move nothing
_JOINERS = frozenset("\u200c\u200d")


def _raise_if(problems: dict[str | None, str | None]) -> None:
    found = {field: message for field, message in problems.items() if message}
    if found:
        raise AccountError(problems=found)


def _snapshot(user: User) -> dict:
    return {
        "email": user.email,
        "display_name": user.display_name,
        "role": str(user.role),
        "sites": sorted(site.key for site in user.sites),
        "active": user.active,
    }


def user_version(user: User) -> str:
    """The version of a user's details their edit form is drawn from."""
    return row_version(_snapshot(user))


def create_user(
    *,
    email: str,
    display_name: str | None,
    role: Role | str,
    sites: list[Site],
    password: str,
    actor: User | None,
    now: datetime,
    os_user: str | None = None,
    submission: str | None = None,
    temporary: bool = False,
) -> User:
    """Add a user; emails are unique regardless of case. With no
    ``display_name`` (the command's --name left out), the email's local
    part. ``os_user``: who ran the command that adds them (there is no
    actor), kept in the audit detail.

    The form sent again (a double click: its ``submission`` key claimed)
    raises submissions.AlreadySubmitted, before the email is found taken
    by the user it added. Two admins adding one email at once: the second
    is told it is taken, as if it had been added first. A ``temporary``
    password (an admin's, typed for someone else) must be changed when its
    user first signs in."""
    submissions.check_earlier(submission, "user", actor=actor)
    email = normalise_email(email)
    role = Role(role)
    if display_name is None:
        # made from the email: wrong only if the email is, which says so
        display_name = email.partition("@")[0]
        _raise_if({**new_user_problems(email=email, display_name=display_name, role=role,
                                       sites=sites, password=password),
                   "display_name": None})
    else:
        _raise_if(new_user_problems(email=email, display_name=display_name, role=role,
                                    sites=sites, password=password))
    user = User(
        email=email,
        display_name=_clean_name(display_name),
        role=role,
        sites=list(sites),
        password_hash=hash_password(password),
        must_change_password=temporary,
        active=True,
        created_at=now,
    )
    # claimed just before the write (on PostgreSQL it waits for the same
    # form in flight), so a refused form leaves no claim
    submissions.claim(submission, "user", actor=actor, now=now)
    _add_new_user(user)
    submissions.settle(submission, user.id)
    detail = audit.changes({}, _snapshot(user))
    if temporary:
        detail["must_change_password"] = {"before": None, "after": True}
    if os_user is not None:
        detail["os_user"] = os_user
    audit.record(
        Action.USER_CREATED, actor=actor, now=now, subject_type="user", subject_id=user.id,
        detail=detail,
    )
    return user


def new_user_problems(*, email: str, display_name: str, role: Role | str | None,
                      sites: list[Site] | None, password: str) -> dict[str | None, str | None]:
    """What is wrong with a new user's details, field by field (None where
    nothing is): the rules create_user refuses them by. For the new-user
    form with errors of its own too, which is not sent on, so that each of
    these is shown with them: a malformed email was said only once the
    rest of the form was right (found by review). ``role`` may be none of
    the roles, and ``sites`` None (unknown keys: the form's errors): the
    sites are then not checked."""
    email = normalise_email(email or "")
    problem = email_problem(email)
    if problem is None and db.session.execute(
        select(func.count()).select_from(User).where(User.email == email)
    ).scalar_one():
        problem = "A user with this email address already exists"
    role = Role(role) if role in set(Role) else None
    return {
        "email": problem,
        "display_name": _display_name_problem(display_name or ""),
        "sites": _site_problem(role, sites) if role is not None and sites is not None
        else None,
        "password": _password_problem(password or "", email=email,
                                      display_name=display_name or ""),
    }


def _add_new_user(user: User) -> None:
    """Write ``user``, or raise AccountError if their email was taken since
    it was checked: on PostgreSQL two transactions can both find it free,
    and the second's insert then meets the first's row in the unique index
    (a 500 before). In a savepoint, so the transaction carries on to report
    it."""
    try:
        with db.session.begin_nested():
            db.session.add(user)
            db.session.flush()
    except IntegrityError as error:
        if "email" not in str(error.orig):
            raise
        raise AccountError("A user with this email address already exists",
                           field="email") from None


def _password_problem(password: str, *, email: str, display_name: str) -> str | None:
    """passwords.password_problem, told what a guesser would try first for
    this user: their email and name, and the sites' names and keys."""
    sites = db.session.execute(select(Site.key, Site.name)).all()
    return password_problem(password, email=email,
                            words=[display_name, *(word for site in sites for word in site)])


def create_locked_users(accounts: list[tuple[str, str]], *, role: Role | str,
                        sites: list[Site], now: datetime) -> list[User]:
    """Add users, each (email, display name), whom nobody can sign in as until
    an admin sets a password: they hold the argon2 hash of a random secret
    that is never kept or shown. For synthetic staff in demo data: argon2 is
    slow by design, so the one hash is shared (a national service's
    caseworkers, hashed one by one, would take minutes). Audited as
    ``create_user`` is."""
    role = Role(role)
    emails = [normalise_email(email) for email, _ in accounts]
    taken = db.session.scalar(select(func.count()).select_from(User)
                              .where(User.email.in_(emails)))
    problem = None
    if any(email_problem(email) for email in emails):
        problem = "Enter email addresses in the correct format"
    elif taken or len(set(emails)) != len(emails):
        problem = "A user with one of these email addresses already exists"
    _raise_if({
        "email": problem,
        "display_name": None if all(name.strip() for _, name in accounts)
        else "Enter a display name",
        "sites": _site_problem(role, sites),
    })
    locked = hash_password(secrets.token_urlsafe(32))
    users = [User(email=email, display_name=name.strip(), role=role, sites=list(sites),
                  password_hash=locked, active=True, created_at=now)
             for email, (_, name) in zip(emails, accounts, strict=True)]
    db.session.add_all(users)
    db.session.flush()
    for user in users:
        audit.record(Action.USER_CREATED, actor=None, now=now, subject_type="user",
                     subject_id=user.id, detail=audit.changes({}, _snapshot(user)))
    return users


def update_user(
    user: User,
    *,
    display_name: str,
    role: Role | str,
    sites: list[Site],
    actor: User | None,
    now: datetime,
    based_on: str | None = None,
) -> User:
    """Change a user's name, role and sites; the audit detail has before and
    after. Refused (ChangedMeanwhile) if they are no longer the version
    ``based_on`` the form was drawn from; and for the last active admin, a
    role other than admin."""
    role = Role(role)
    _raise_if(user_details_problems(user, display_name=display_name, role=role, sites=sites,
                                    actor=actor))
    _lock_admins()
    lock_row(db.session, user)
    before = _snapshot(user)
    check_unchanged(based_on, before, {
        "display_name": _clean_name(display_name), "role": str(role),
        "sites": sorted(site.key for site in sites)})
    if role != Role.ADMIN:
        _raise_if({"role": _last_admin_problem(user, "given another role")})
    user.display_name = _clean_name(display_name)
    user.role = role
    user.sites = list(sites)
    db.session.flush()
    diff = audit.changes(before, _snapshot(user))
    if diff:
        audit.record(
            Action.USER_UPDATED, actor=actor, now=now, subject_type="user", subject_id=user.id,
            detail=diff,
        )
    return user


def user_details_problems(user: User, *, display_name: str, role: Role | str | None,
                          sites: list[Site] | None,
                          actor: User | None) -> dict[str | None, str | None]:
    """What is wrong with a change of ``user``'s name, role and sites, field
    by field (None where nothing is): update_user's rules before its locks;
    for the form with errors of its own too, so that each is shown with
    them. ``role`` none of the roles, or ``sites`` None (the form's
    errors): what needs them is not checked."""
    role = Role(role) if role in set(Role) else None
    own_role = (actor is not None and actor.id == user.id and role is not None
                and role != user.role)
    return {
        "display_name": _display_name_problem(display_name or ""),
        "role": "You cannot change your own role" if own_role else None,
        "sites": _site_problem(role, sites) if role is not None and sites is not None
        else None,
    }


def _lock_admins() -> None:
    """One change to a user's role or active state at a time (PostgreSQL;
    SQLite's writers already take turns), so two admins deactivating or
    demoting each other at once cannot both find the other still there to
    manage users. Taken before the user's row, always in that order."""
    lock_for_update(db.session, "users:admins")


def _last_admin_problem(user: User, change: str) -> str | None:
    """Why ``user`` cannot be ``change`` (deactivated, given another role): they
    are the last active admin, and nobody would be left to manage users,
    sites and trials. Read under _lock_admins."""
    if user.role != Role.ADMIN or not user.active:
        return None
    others = db.session.scalar(select(func.count()).select_from(User).where(
        User.role == Role.ADMIN, User.active.is_(True), User.id != user.id))
    if others:
        return None
    return (f"{user.email} is the last active admin and cannot be {change}: make someone "
            "else an admin first, or nobody could manage users")


def deactivate_user(user: User, *, actor: User | None, now: datetime) -> User:
    """Stop a user signing in and end every session they have open. The
    last active admin is not deactivated."""
    if actor is not None and actor.id == user.id:
        raise AccountError("You cannot deactivate your own account")
    _lock_admins()
    lock_row(db.session, user)
    if not user.active:
        return user
    _raise_if({None: _last_admin_problem(user, "deactivated")})
    user.active = False
    user.end_sessions()
    db.session.flush()
    audit.record(
        Action.USER_DEACTIVATED, actor=actor, now=now, subject_type="user", subject_id=user.id,
        detail=audit.changes({"active": True}, {"active": False}),
    )
    return user


def reactivate_user(user: User, *, actor: User | None, now: datetime) -> User:
    if user.active:
        return user
    user.active = True
    db.session.flush()
    audit.record(
        Action.USER_REACTIVATED, actor=actor, now=now, subject_type="user", subject_id=user.id,
        detail=audit.changes({"active": False}, {"active": True}),
    )
    return user


def password_problems(user: User, password: str) -> dict[str | None, str | None]:
    """What is wrong with ``password`` as ``user``'s (``{"password": ...}``,
    None if nothing): set_password's rule; for its form with errors of its
    own too (the confirmation not matching), so that a weak password is
    said with them, not once they are put right."""
    return {"password": _password_problem(password or "", email=user.email,
                                          display_name=user.display_name)}


def set_password(user: User, password: str, *, actor: User | None, now: datetime,
                 temporary: bool = False, os_user: str | None = None) -> User:
    """Replace a user's password and end their sessions. A ``temporary``
    one (an admin's, or the command's unless told otherwise: whoever set it
    knows it) must be changed by its user when they next sign in, before
    anything else. Not for one's own password, which change_password
    changes knowing the old one. Audited (``user:password_set``) without
    the password; ``os_user``: who ran the command that set it."""
    if actor is not None and actor.id == user.id:
        raise AccountError("Change your own password on the Change your password page")
    _raise_if(password_problems(user, password))
    user.password_hash = hash_password(password)
    user.must_change_password = temporary
    user.end_sessions()
    db.session.flush()
    detail: dict = {"temporary": temporary}
    if os_user is not None:
        detail["os_user"] = os_user
    audit.record(
        Action.USER_PASSWORD_SET, actor=actor, now=now, subject_type="user", subject_id=user.id,
        detail=detail,
    )
    return user


def change_password_problems(user: User, current: str | None,
                             new: str | None) -> dict[str | None, str | None]:
    """What is wrong with ``user`` changing their password from ``current``
    to ``new``, field by field (None where nothing is): change_password's
    rules; for its form with errors of its own too (the confirmation not
    matching), so that each is said with them."""
    current, new = current or "", new or ""
    problem = _password_problem(new, email=user.email, display_name=user.display_name)
    right = verify_password(user.password_hash, current)
    if problem is None and right and new == current:
        problem = "Your new password must be different from your current one"
    return {"current_password": None if right else "Your current password is not correct",
            "password": problem}


def change_password(user: User, current: str, new: str, *, now: datetime) -> User:
    """A user replaces their own password, giving the one they have: the
    rules of a new account's (passwords.password_problem), and not the one
    they have (a temporary one would stay known to whoever set it). Ends
    their other sessions (the caller signs this one in again) and any
    obligation to change it. Every problem is reported at once; audited as
    ``user:password_changed``, with no password in it."""
    _raise_if(change_password_problems(user, current, new))
    before = {"must_change_password": user.must_change_password}
    user.password_hash = hash_password(new)
    user.must_change_password = False
    user.end_sessions()
    db.session.flush()
    audit.record(
        Action.USER_PASSWORD_CHANGED, actor=user, now=now, subject_type="user",
        subject_id=user.id, detail=audit.changes(before, {"must_change_password": False}),
    )
    return user


def emails_of(user_ids: Iterable[int]) -> dict[int, str]:
    """The email address of each of ``user_ids``."""
    ids = list(user_ids)
    return {row.id: row.email for row in db.session.execute(
        select(User.id, User.email).where(User.id.in_(ids)))} if ids else {}


USERS_PER_PAGE = 50


@dataclass(frozen=True)
class UserPage(Paged):
    users: list[User]
    total: int
    page: int
    per_page: int


def users_page(page: int, per_page: int = USERS_PER_PAGE) -> UserPage:
    """A page of users by email (a national service has thousands): two
    queries and their sites."""
    total = db.session.scalar(select(func.count()).select_from(User))
    page = page_within(page, total, per_page)
    users = db.session.scalars(select(User).order_by(User.email)
                               .offset((page - 1) * per_page).limit(per_page)).all()
    return UserPage(list(users), total, page, per_page)
