from __future__ import annotations

import hashlib
from urllib.parse import parse_qs, urlsplit

from flask import (
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user, login_user, logout_user

from casework.accounts import bp, services
from casework.accounts.forms import ChangePasswordForm, LoginForm, LogoutForm
from casework.audit import services as audit
from casework.audit.actions import Action
from casework.database import utcnow
from casework.extensions import db, limiter
from casework.forms import local_path, show_more_problems, show_problems
from casework.web import PUBLIC_ENDPOINTS, READ_ONLY_METHODS, start_session

SIGN_IN_FAILED = "Enter a correct email address and password"


def _email_key() -> str:
    """The email a sign-in was sent with, normalised, as a throttle's key:
    its SHA-256, 64 characters whatever was typed. The email itself made
    keys as long as it was: each sign-in with another 5 MB email kept two
    keys of 5 MB in Redis for 15 minutes (found by review). One email still
    makes one key, however its letters' case or spaces around it differ."""
    email = services.normalise_email(request.form.get("email", ""))
    return hashlib.sha256(email.encode()).hexdigest()


# Three counts of failed sign-ins, each with its own limit (casework.config):
# per account and address, so one attacker cannot lock everyone out and one
# address cannot spray guesses at one account; per address across every
# account, so one address cannot try a password on account after account;
# and per account across every address, a higher ceiling, so many addresses
# cannot share out the guesses at one account. The keys are the email as
# typed (normalised, then hashed), known or not: an unknown one is counted
# and refused the same way, so no answer says whether it has an account.
_LOGIN_LIMITS = (
    # (setting, key, what the audit event calls it)
    ("LOGIN_RATE_LIMIT", lambda: f"{request.remote_addr}|{_email_key()}", "account_and_address"),
    ("LOGIN_ADDRESS_RATE_LIMIT", lambda: f"address|{request.remote_addr}", "address"),
    ("LOGIN_ACCOUNT_RATE_LIMIT", lambda: f"account|{_email_key()}", "account"),
)


def _failed(response) -> bool:
    """A sign-in that counts against the limits: one that failed, not one
    refused for a limit (a refusal is no guess, and counted, it would spend
    the other limits' allowance: an address over its own limit still using
    up the account's, which everyone else signs in to)."""
    return response.status_code not in (302, 429)


def _record_throttle(limit: str) -> None:
    if g.get("sign_in_throttled"):  # once a request, whichever limits it is over
        return
    g.sign_in_throttled = True
    user = services.find_user_by_email(request.form.get("email", ""))
    # by whoever tried (not signed in), about the account tried, as a failed
    # sign-in is: not listed among that user's own actions
    audit.record(
        Action.AUTH_THROTTLED, actor=None, anonymous=True, now=utcnow(),
        subject_type="user" if user else None, subject_id=user.id if user else None,
        detail={"limit": limit},
    )
    db.session.commit()


def _limited(view):
    """``view`` under each of the sign-in limits."""
    for setting, key, name in _LOGIN_LIMITS:
        view = limiter.limit(
            lambda setting=setting: current_app.config[setting],
            key_func=key,
            methods=["POST"],
            deduct_when=_failed,
            on_breach=lambda _limit, name=name: _record_throttle(name),
        )(view)
    return view


def _safe_next(target: str | None) -> str:
    """A local path to go on to (``casework.forms.local_path``), or the home
    page. A CR or LF in it made the redirect fail after the user was
    signed in, so the page answered 500 with the session's cookie and the
    sign-in's event was rolled back (found by review)."""
    return local_path(target) or url_for("main.index")


def _past_the_change_page(target: str) -> str:
    """Where a sign-in goes on to: past the change-password page, if that is
    where the session timed out (it carries where the user was going). A
    user made to change their password was sent back to that page after
    changing it (found by review)."""
    parts = urlsplit(target)
    if parts.path == url_for("auth.change_password"):
        return _safe_next(parse_qs(parts.query).get("next", [None])[0])
    return target


def _not_echoed_if_too_long(form: LoginForm) -> None:
    """An email longer than any account's is not put back in the form: the
    page sent back whatever was typed, 5 MB of it (found by review). The
    field's message says how long one may be."""
    if len(form.email.data or "") > services.MAX_EMAIL_LENGTH:
        form.email.data = ""


@bp.route("/sign-in", methods=["GET", "POST"])
@_limited
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data, now=utcnow())
        if user is not None:
            next_url = _past_the_change_page(_safe_next(request.args.get("next")))
            session.clear()  # a new session on sign-in: no fixation
            login_user(user)
            start_session()
            if user.must_change_password:
                return redirect(url_for("auth.change_password", next=next_url))
            return redirect(next_url)
        db.session.commit()  # keep the auth:login_failed event
        form.email.errors.append(SIGN_IN_FAILED)
        form.password.data = ""
    _not_echoed_if_too_long(form)
    status = 422 if form.errors else 200
    return render_template("accounts/login.html", form=form), status


@bp.route("/sign-out", methods=["POST"])
def logout():
    form = LogoutForm()
    if form.validate_on_submit() and current_user.is_authenticated:
        user = current_user._get_current_object()
        audit.record(Action.AUTH_LOGOUT, actor=user, now=utcnow(),
                     subject_type="user", subject_id=user.id)
        # The session cookie is signed, not stored: a copy kept from before
        # signing out would still be valid unless its token is replaced. This
        # ends the user's other sessions too (other browsers, other devices).
        user.end_sessions()
        db.session.commit()
        logout_user()
        session.clear()
        flash("You have signed out", "success")
    return redirect(url_for("auth.login"))


# What a user whose password must be changed may still reach.
# the change-password page's own timeout warning asks how long is left: sent
# to that page instead, it took the redirect for a sign-out and reloaded,
# which renewed the session for ever (found by review)
WHILE_PASSWORD_MUST_CHANGE = PUBLIC_ENDPOINTS | {"auth.change_password", "auth.logout",
                                                "main.session_alive", "main.session_left"}


@bp.before_app_request
def _password_must_change_first():
    """A user signed in with a temporary password (set by an admin or a
    command: whoever set it knows it) is sent to change it, and reaches
    nothing else until they have."""
    if request.endpoint in WHILE_PASSWORD_MUST_CHANGE or request.endpoint is None:
        return None
    if current_user.is_authenticated and current_user.must_change_password:
        target = request.full_path.rstrip("?") if request.method in READ_ONLY_METHODS \
            else None
        return redirect(url_for("auth.change_password", next=target))
    return None


def _record_password_throttle() -> None:
    user = current_user._get_current_object()
    audit.record(Action.AUTH_THROTTLED, actor=user, now=utcnow(), subject_type="user",
                 subject_id=user.id, detail={"limit": "password_change"})
    db.session.commit()


@bp.route("/account/password", methods=["GET", "POST"])
@limiter.limit(
    # the current password is asked for again: whoever holds a session
    # (a computer left signed in) guesses at it no faster than at sign-in
    lambda: current_app.config["LOGIN_RATE_LIMIT"],
    key_func=lambda: f"password-change|{current_user.id}",
    methods=["POST"],
    deduct_when=lambda _response: g.get("wrong_current_password", False),
    on_breach=lambda _limit: _record_password_throttle(),
)
def change_password():
    form = ChangePasswordForm()
    user = current_user._get_current_object()
    if form.validate_on_submit():
        try:
            services.change_password(user, form.current_password.data, form.password.data,
                                     now=utcnow())
        except services.AccountError as error:
            g.wrong_current_password = "current_password" in error.problems
            show_problems(form, error.problems)
        else:
            next_url = _safe_next(request.args.get("next"))
            # its other sessions ended with the new token: this one goes on
            # as a new session under it
            session.clear()
            login_user(user)
            start_session()
            flash("Your password has been changed. You have been signed out everywhere else",
                  "success")
            return redirect(next_url)
    elif form.is_submitted():  # with the form's own errors, every other problem too
        more = services.change_password_problems(user, form.current_password.data,
                                                 form.password.data)
        # a wrong current password counts against the limit however it is
        # said (one left empty is the form's error, and no guess)
        g.wrong_current_password = bool(form.current_password.data
                                        and more["current_password"])
        show_more_problems(form, more)
    status = 422 if form.errors or form.form_errors else 200
    return render_template("accounts/change_password.html", form=form,
                           required=user.must_change_password), status
