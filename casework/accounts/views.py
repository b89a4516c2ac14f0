from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from casework.accounts import bp, services
from casework.accounts.forms import LoginForm, LogoutForm
from casework.audit import services as audit
from casework.audit.actions import Action
from casework.database import utcnow
from casework.extensions import db, limiter
from casework.web import start_session

SIGN_IN_FAILED = "Enter a correct email address and password"


def _login_key() -> str:
    # Counted per account and address, so one attacker cannot lock everyone out
    # and one address cannot spray guesses at one account.
    email = services.normalise_email(request.form.get("email", ""))
    return f"{request.remote_addr}|{email}"


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _record_throttle() -> None:
    user = services.find_user_by_email(request.form.get("email", ""))
    audit.record(
        Action.AUTH_THROTTLED, actor=user, now=utcnow(),
        subject_type="user" if user else None, subject_id=user.id if user else None,
    )
    db.session.commit()


def _safe_next(target: str | None) -> str:
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") \
                and not target.startswith("//"):
            return target
    return url_for("main.index")


@bp.route("/sign-in", methods=["GET", "POST"])
@limiter.limit(
    _login_limit,
    key_func=_login_key,
    methods=["POST"],
    deduct_when=lambda response: response.status_code != 302,
    on_breach=lambda _limit: _record_throttle(),
)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data, now=utcnow())
        if user is not None:
            next_url = _safe_next(request.args.get("next"))
            session.clear()  # a new session on sign-in: no fixation
            login_user(user)
            start_session()
            return redirect(next_url)
        db.session.commit()  # keep the auth:login_failed event
        form.email.errors.append(SIGN_IN_FAILED)
        form.password.data = ""
    return render_template("accounts/login.html", form=form)


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
