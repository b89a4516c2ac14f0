from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from casework.access import get_in_scope_or_404, list_scope, require
from casework.accounts.roles import Permission
from casework.audit import services as audit
from casework.audit.actions import Action
from casework.database import ChangedMeanwhile, utcnow
from casework.extensions import db
from casework.forms import changed_meanwhile, refused, sent_again, show_problems, whole_number
from casework.intake import services as intake
from casework.intake.models import Referral
from casework.submissions import AlreadySubmitted, check_earlier
from casework.triage import bp, services
from casework.triage import exclusions as exclusion_data
from casework.triage.forms import DecisionForm, ExclusionForm, NewExclusionForm, TriageForm
from casework.triage.models import Triage


@bp.route("/referrals/<int:referral_id>/triage", methods=["GET", "POST"])
@require(Permission.TRIAGE_RECORD)
def record(referral_id: int):
    referral = get_in_scope_or_404(Referral, referral_id, subject_type="referral")
    triage = services.triage_for(referral)
    form = TriageForm()
    form.offer_exclusions(exclusion_data.choices_for(triage.exclusions if triage else ()))
    if not form.is_submitted():
        if triage is not None and (triage.is_decided or services.closed_undecided(triage)):
            return redirect(url_for("triage.show", triage_id=triage.id))  # (saying why)
        if triage is not None:
            form.fill_from(triage)
        form.version.data = (services.triage_version(triage) if triage is not None
                             else services.NEW_TRIAGE)
    else:  # sent again: the first click's save, not a change "by someone else"
        try:
            check_earlier(form.submission.data, "triage_facts", actor=current_user)
        except AlreadySubmitted as sent:
            return _sent_again(sent, referral)
    # facts sent after a lead decided: sent back saying so, not dropped unseen
    locked = services.facts_locked(triage) if triage is not None and triage.is_decided \
        else services.closed(referral, "triaged")
    if not refused(form, locked) and form.validate_on_submit():
        try:
            # a form sent without a version is taken as a blank one's: saved
            # over facts it never showed only once drawn again with them
            saved = services.record_triage(referral, form.facts(), actor=current_user,
                                           now=utcnow(),
                                           based_on=form.version.data or services.NEW_TRIAGE,
                                           submission=form.submission.data)
        except AlreadySubmitted as sent:  # (the first was still being written)
            db.session.rollback()
            return _sent_again(sent, referral)
        except services.TriageError as error:
            show_problems(form, error.problems)
        except ChangedMeanwhile as error:
            db.session.rollback()
            changed_meanwhile(form, error)
            triage = services.triage_for(referral)  # (the first, if it was recorded meanwhile)
            form.offer_exclusions(exclusion_data.choices_for(triage.exclusions if triage else ()))
        else:
            flash("Triage saved and sent to the lead's queue", "success")
            return redirect(url_for("triage.show", triage_id=saved.id))
    status = 422 if form.errors or form.form_errors else 200
    intake.person_shown(referral.person, page=request.endpoint, site_id=referral.site_id)
    return render_template("triage/record.html", form=form, referral=referral,
                           triage=triage, closed=services.closed(referral, "triaged")), status


def _sent_again(sent: AlreadySubmitted, referral: Referral):
    """The answer to a triage form sent again: the triage page, saying the
    first sending was saved (or only that the form was sent, if its key is
    someone else's)."""
    flash("This was already saved: it is recorded once" if sent.earlier.subject_id
          else "This form was already sent", "info")
    triage = services.triage_for(referral)
    return redirect(url_for("triage.show", triage_id=triage.id) if triage is not None
                    else url_for("intake.person", person_id=referral.person_id))


@bp.route("/triage")
@require(Permission.TRIAGE_DECIDE)
def queue():
    """The lead's sites' undecided triages, or one site's (``site``: the
    dashboard's figure links here for the site chosen there)."""
    scope = list_scope()
    page = services.triage_queue(scope.site_ids, now=utcnow(),
                                 page=whole_number(request.args.get("page", "1")) or 1)
    audit.viewed(Action.TRIAGE_LISTED, page=page.page, shown=len(page.items), **scope.audited)
    return render_template("triage/queue.html", page=page, site=scope.site)


def _show(triage: Triage, form: DecisionForm | None, status: int = 200):
    """The triage page (also sent back, 422, with a decision's errors): each
    drawing of it is audited as a view."""
    audit.viewed(Action.TRIAGE_VIEWED, subject_type="triage", subject_id=triage.id,
                 site_id=triage.site_id)
    # a triage its referral's close left undecided: no rules' result, no decision
    closed = services.closed_undecided(triage)
    assessment, earlier = (None, None) if triage.is_decided or closed \
        else services.review(triage)
    if form is not None and assessment is not None:  # what this page shows, decided on
        form.version.data = services.decision_version(triage, assessment)
    return render_template(
        "triage/show.html", triage=triage, assessment=assessment, form=form,
        earlier_allocation=earlier, closed=closed, decided_on=services.decided_on(triage),
        exclusions=exclusion_data.named(triage.exclusions or []),
    ), status


@bp.route("/triage/<int:triage_id>")
@require(Permission.CASE_READ)
def show(triage_id: int):
    triage = get_in_scope_or_404(Triage, triage_id, subject_type="triage")
    form = DecisionForm() if current_user.can(Permission.TRIAGE_DECIDE) else None
    return _show(triage, form)


@bp.route("/triage/<int:triage_id>/decision", methods=["POST"])
@require(Permission.TRIAGE_DECIDE)
def decide(triage_id: int):
    triage = get_in_scope_or_404(Triage, triage_id, subject_type="triage")
    form = DecisionForm()
    try:
        if form.is_submitted():  # sent again: the first click's decision, not "already decided"
            check_earlier(form.submission.data, "triage_decision", actor=current_user)
        if not refused(form, services.closed_undecided(triage)) and form.validate_on_submit():
            # a form without the version it was drawn from (a page from
            # before it had one) showed facts nobody can name: not decided on
            services.decide(triage, form.decision.data, form.rationale.data,
                            actor=current_user, now=utcnow(),
                            key=current_app.config["TRIAL_KEY"],
                            based_on=form.version.data or "", submission=form.submission.data)
            flash("Decision recorded", "success")
            return redirect(url_for("triage.show", triage_id=triage.id))
    except AlreadySubmitted as sent:  # a double click: the first decided
        db.session.rollback()
        return sent_again(sent, url_for("triage.show", triage_id=triage.id))
    except services.TriageError as error:
        db.session.rollback()  # nothing of a refused decision is kept, even in memory
        show_problems(form, error.problems)
    except ChangedMeanwhile as error:  # the page drawn again shows the facts now
        db.session.rollback()
        changed_meanwhile(form, error)
    return _show(triage, form, 422)


# the C5 exclusions: reference data admins keep, as the offence catalogue

@bp.route("/admin/exclusions")
@require(Permission.RULESET_MANAGE)
def exclusions():
    return render_template("triage/exclusions.html",
                           exclusions=exclusion_data.all_exclusions())


@bp.route("/admin/exclusions/new", methods=["GET", "POST"])
@require(Permission.RULESET_MANAGE)
def new_exclusion():
    form = NewExclusionForm()
    if form.validate_on_submit():
        try:
            added = exclusion_data.add_exclusion(form.title.data, actor=current_user,
                                                 now=utcnow(), submission=form.submission.data)
        except AlreadySubmitted as sent:  # a double click: the first added it
            db.session.rollback()
            return sent_again(sent, url_for("triage.exclusions"))
        except exclusion_data.ExclusionError as error:
            db.session.rollback()
            show_problems(form, error.problems)
        else:
            flash(f"{added.title} added: triage offers it from now on", "success")
            return redirect(url_for("triage.exclusions"))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("triage/new_exclusion.html", form=form), status


@bp.route("/admin/exclusions/<key>", methods=["GET", "POST"])
@require(Permission.RULESET_MANAGE)
def edit_exclusion(key: str):
    exclusion = exclusion_data.by_key(key)
    if exclusion is None:
        abort(404)
    form = ExclusionForm(obj=None if request.method == "POST" else exclusion)
    if not form.is_submitted():
        form.version.data = exclusion_data.exclusion_version(exclusion)
    if form.validate_on_submit():
        try:
            exclusion_data.update_exclusion(exclusion, exclusion_data.ExclusionChange(
                form.title.data, form.offered.data), actor=current_user, now=utcnow(),
                based_on=form.version.data)
        except exclusion_data.ExclusionError as error:
            db.session.rollback()
            show_problems(form, error.problems)
        except ChangedMeanwhile as error:
            db.session.rollback()
            changed_meanwhile(form, error)
        else:
            flash(f"{exclusion.title} saved", "success")
            return redirect(url_for("triage.exclusions"))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("triage/edit_exclusion.html", form=form,
                           exclusion=exclusion), status
