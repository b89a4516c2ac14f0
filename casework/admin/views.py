from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from casework.access import require
from casework.accounts import services
from casework.accounts.models import Site, User
from casework.accounts.roles import Permission
from casework.admin import bp
from casework.admin.forms import (
    ConfirmForm,
    NewSiteForm,
    NewUserForm,
    SiteForm,
    TemporaryPasswordForm,
    UserDetailsForm,
)
from casework.database import ChangedMeanwhile, utcnow
from casework.extensions import db
from casework.forms import (
    changed_meanwhile,
    choices,
    show_more_problems,
    show_problems,
    whole_number,
)
from casework.submissions import AlreadySubmitted, new_key


def _with_sites(form):
    sites = services.all_sites()
    form.sites.choices = choices((site.key, site.name) for site in sites)
    return form


def _sites_chosen(form) -> list[Site] | None:
    """The sites ``form`` chose, or None if it named one that is not a site
    (the form's own error)."""
    try:
        return services.sites_by_keys(form.sites.data or [])
    except services.AccountError:
        return None


def _get_user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


@bp.route("/users")
@require(Permission.USER_MANAGE)
def users():
    page = services.users_page(whole_number(request.args.get("page", "1")) or 1,
                               per_page=services.USERS_PER_PAGE)
    return render_template("admin/users.html", page=page)


@bp.route("/users/new", methods=["GET", "POST"])
@require(Permission.USER_MANAGE)
def new_user():
    form = _with_sites(NewUserForm())
    if form.validate_on_submit():
        try:
            user = services.create_user(
                email=form.email.data,
                display_name=form.display_name.data,
                role=form.role.data,
                sites=services.sites_by_keys(form.sites.data or []),
                password=form.password.data,
                actor=current_user,
                now=utcnow(),
                submission=form.submission.data,
                temporary=True,  # the admin knows it
            )
        except AlreadySubmitted as sent:  # a double click: the first added them
            db.session.rollback()
            added = _already_added(sent.earlier, form)
            if added is not None:
                return added
        except services.AccountError as error:
            show_problems(form, error.problems)
        else:
            flash(f"User {user.email} added", "success")
            return redirect(url_for("admin.users"))
    elif form.is_submitted():  # with the form's own errors, every other problem too
        show_more_problems(form, services.new_user_problems(
            email=form.email.data, display_name=form.display_name.data, role=form.role.data,
            sites=_sites_chosen(form), password=form.password.data))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("admin/new_user.html", form=form), status


def _already_added(earlier, form):
    """The answer to the new-user form sent again: the user it added (a key
    not the admin's own: the list, and nothing about it). Sent again with
    another email (back, then changed: it added nobody and named the first,
    found by review), None: ``form`` is drawn again, with a new key, saying
    so beside the email."""
    user = db.session.get(User, earlier.subject_id) if earlier.subject_id else None
    if user is None:
        flash("This form was already sent", "info")
        return redirect(url_for("admin.users"))
    typed = services.normalise_email(form.email.data or "")
    if typed != user.email:
        form.submission.data = new_key()
        show_problems(form, {"email": f"{user.email} was added from this form; {typed} has "
                                      "not been added: check and add again"})
        return None
    flash(f"User {user.email} was already added: they are added once", "info")
    return redirect(url_for("admin.edit_user", user_id=user.id))


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@require(Permission.USER_MANAGE)
def edit_user(user_id: int):
    user = _get_user(user_id)
    form = _with_sites(UserDetailsForm(obj=None if _posted() else user))
    if not _posted():
        form.role.data = str(user.role)
        form.sites.data = [site.key for site in user.sites]
        form.version.data = services.user_version(user)
    if form.validate_on_submit():
        try:
            services.update_user(
                user,
                display_name=form.display_name.data,
                role=form.role.data,
                sites=services.sites_by_keys(form.sites.data or []),
                actor=current_user,
                now=utcnow(),
                based_on=form.version.data,
            )
        except services.AccountError as error:
            show_problems(form, error.problems)
        except ChangedMeanwhile as error:
            db.session.rollback()
            changed_meanwhile(form, error)
        else:
            flash(f"Changes to {user.email} saved", "success")
            return redirect(url_for("admin.users"))
    elif form.is_submitted():  # with the form's own errors, every other problem too
        show_more_problems(form, services.user_details_problems(
            user, display_name=form.display_name.data, role=form.role.data,
            sites=_sites_chosen(form), actor=current_user))
    status = 422 if form.errors or form.form_errors else 200
    return render_template(
        "admin/edit_user.html", form=form, user=user, confirm=ConfirmForm()
    ), status


@bp.route("/users/<int:user_id>/password", methods=["GET", "POST"])
@require(Permission.USER_MANAGE)
def set_password(user_id: int):
    user = _get_user(user_id)
    form = TemporaryPasswordForm()
    if form.validate_on_submit():
        try:
            services.set_password(user, form.password.data, actor=current_user, now=utcnow(),
                                  temporary=True)
        except services.AccountError as error:
            show_problems(form, error.problems)
        else:
            # a deactivated user signs in with nothing (they were signed out
            # when deactivated): the message said they had been signed out
            # and would change it at their next sign-in (found by review)
            after = ("They have been signed out, and must change it when they next sign in"
                     if user.active else
                     "Their account is deactivated: they cannot sign in with it until it is "
                     "reactivated, and must then change it when they first sign in")
            flash(f"Temporary password set for {user.email}: give it to them in person or by "
                  f"phone. {after}", "success")
            return redirect(url_for("admin.edit_user", user_id=user.id))
    elif form.is_submitted():  # a weak password said with the form's own errors
        show_more_problems(form, services.password_problems(user, form.password.data))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("admin/set_password.html", form=form, user=user), status


@bp.route("/users/<int:user_id>/deactivate", methods=["POST"])
@require(Permission.USER_MANAGE)
def deactivate_user(user_id: int):
    return _set_active(user_id, active=False)


@bp.route("/users/<int:user_id>/reactivate", methods=["POST"])
@require(Permission.USER_MANAGE)
def reactivate_user(user_id: int):
    return _set_active(user_id, active=True)


def _set_active(user_id: int, *, active: bool):
    user = _get_user(user_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        if active:
            services.reactivate_user(user, actor=current_user, now=utcnow())
        else:
            services.deactivate_user(user, actor=current_user, now=utcnow())
    except services.AccountError as error:
        flash(error.message, "error")
        return redirect(url_for("admin.edit_user", user_id=user.id))
    flash(f"{user.email} {'reactivated' if active else 'deactivated'}", "success")
    return redirect(url_for("admin.users"))


@bp.route("/sites")
@require(Permission.SITE_MANAGE)
def sites():
    page = services.sites_page(whole_number(request.args.get("page", "1")) or 1)
    return render_template("admin/sites.html", page=page)


@bp.route("/sites/new", methods=["GET", "POST"])
@require(Permission.SITE_MANAGE)
def new_site():
    form = NewSiteForm()
    if form.validate_on_submit():
        try:
            site = services.create_site(form.key.data, form.name.data, actor=current_user,
                                        now=utcnow())
        except services.AccountError as error:
            show_problems(form, error.problems)
        else:
            flash(f"Site {site.name} added", "success")
            return redirect(url_for("admin.sites"))
    elif form.is_submitted():  # with the form's own errors, every other problem too
        show_more_problems(form, services.new_site_problems(form.key.data, form.name.data))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("admin/new_site.html", form=form), status


@bp.route("/sites/<int:site_id>", methods=["GET", "POST"])
@require(Permission.SITE_MANAGE)
def edit_site(site_id: int):
    site = db.session.get(Site, site_id)
    if site is None:
        abort(404)
    form = SiteForm(obj=None if _posted() else site)
    if form.validate_on_submit():
        try:
            services.rename_site(site, form.name.data, actor=current_user, now=utcnow())
        except services.AccountError as error:
            db.session.rollback()
            show_problems(form, error.problems)
        else:
            flash(f"Site {site.name} saved", "success")
            return redirect(url_for("admin.sites"))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("admin/edit_site.html", form=form, site=site), status


def _posted() -> bool:
    return request.method == "POST"
