from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from casework.access import require, visible_site_ids
from casework.accounts import services as accounts
from casework.accounts.roles import Permission
from casework.audit import services as audit
from casework.audit.actions import Action
from casework.database import ChangedMeanwhile, utcnow
from casework.extensions import db
from casework.forms import changed_meanwhile, choices, refused, show_problems
from casework.intake.models import format_reference
from casework.trial import bp, services
from casework.trial.forms import AllocationListForm, InErrorForm, ReportForm, TrialForm
from casework.trial.models import Allocation, AllocationInError, AllocationMethod, Trial


def _get_trial(trial_id: int) -> Trial:
    trial = db.session.get(Trial, trial_id)
    if trial is None:
        abort(404)
    return trial


def _trial_form(form: TrialForm) -> TrialForm:
    form.sites.choices = choices((site.key, site.name) for site in accounts.all_sites())
    return form


@bp.route("/admin/trials")
@require(Permission.TRIAL_CONFIGURE)
def trials():
    return render_template("trial/trials.html",
                           trials=db.session.scalars(select(Trial).order_by(Trial.name)).all())


@bp.route("/admin/trials/new", methods=["GET", "POST"])
@require(Permission.TRIAL_CONFIGURE)
def new():
    form = _trial_form(TrialForm())
    if request.method == "GET":
        form.ratio_treatment.data = form.ratio_control.data = 1
        form.block_sizes.data = "2, 4, 6"
        form.method.data, form.status.data = "permuted_blocks", "open"
    if form.validate_on_submit():
        try:
            trial = services.save_trial(None, form.settings(), actor=current_user, now=utcnow())
        except services.TrialError as error:
            db.session.rollback()
            show_problems(form, error.problems)
        else:
            flash(f"Trial {trial.name} added", "success")
            return redirect(url_for("trial.edit", trial_id=trial.id))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("trial/new.html", form=form), status


def _render_edit(trial: Trial, form=None, list_form=None, error_form=None, status=200):
    if form is None:  # the trial's form as saved (not read from another form's POST)
        form = _trial_form(TrialForm(formdata=None))
        form.fill_from(trial)
        form.version.data = services.trial_version(trial)
    error_form = error_form or InErrorForm()
    error_form.stratum.choices = choices(
        [("", "Select a stratum")] + [(s, s) for s in services.trial_strata(trial)])
    in_error = db.session.scalars(
        select(AllocationInError).join(AllocationInError.allocation)
        .where(Allocation.trial_id == trial.id).order_by(AllocationInError.id.desc())
    ).all()
    return render_template(
        "trial/edit.html", trial=trial, form=form, list_form=list_form or AllocationListForm(),
        error_form=error_form, in_error=in_error, locked=services.has_allocations(trial),
        takes_list=services.list_refusal(trial) is None,
        list_gaps=(services.list_gaps(trial)
                   if trial.method == AllocationMethod.ALLOCATION_LIST else []),
    ), status


@bp.route("/admin/trials/<int:trial_id>", methods=["GET", "POST"])
@require(Permission.TRIAL_CONFIGURE)
def edit(trial_id: int):
    trial = _get_trial(trial_id)
    form = _trial_form(TrialForm())
    if form.validate_on_submit():
        try:
            services.save_trial(trial, form.settings(trial), actor=current_user, now=utcnow(),
                                based_on=form.version.data)
        except services.TrialError as error:
            db.session.rollback()
            show_problems(form, error.problems)
        except ChangedMeanwhile as error:
            db.session.rollback()
            changed_meanwhile(form, error)
        else:
            flash("Trial saved", "success")
            return redirect(url_for("trial.edit", trial_id=trial.id))
    if form.is_submitted():
        return _render_edit(trial, form=form, status=422)
    return _render_edit(trial)


@bp.route("/admin/trials/<int:trial_id>/allocation-list", methods=["POST"])
@require(Permission.TRIAL_CONFIGURE)
def upload_list(trial_id: int):
    trial = _get_trial(trial_id)
    form = AllocationListForm()
    if refused(form, refusal := services.list_refusal(trial)):
        if upload := request.files.get(form.allocation_list.name):
            services.refuse_allocation_list(trial, upload.read(), refusal,
                                            actor=current_user, now=utcnow())
    elif form.validate_on_submit():
        upload = form.allocation_list.data
        try:
            parsed = services.upload_allocation_list(
                trial, upload.read(), upload.filename or "allocation-list.csv",
                actor=current_user, now=utcnow())
        except services.TrialError as error:
            db.session.rollback()
            show_problems(form, error.problems)
        else:
            flash(f"Allocation list stored: {len(parsed.entries)} slots, "
                  f"SHA-256 {parsed.sha256}", "success")
            return redirect(url_for("trial.edit", trial_id=trial.id))
    return _render_edit(trial, list_form=form, status=422)


@bp.route("/admin/trials/<int:trial_id>/in-error", methods=["POST"])
@require(Permission.TRIAL_CONFIGURE)
def mark_in_error(trial_id: int):
    trial = _get_trial(trial_id)
    form = InErrorForm()
    form.stratum.choices = choices(
        [("", "Select a stratum")] + [(s, s) for s in services.trial_strata(trial)])
    if form.validate_on_submit():
        try:
            record = services.mark_in_error(
                trial, form.stratum.data, form.slot.data, form.reason.data,
                referral=form.referral.data, actor=current_user, now=utcnow())
        except services.TrialError as error:
            db.session.rollback()
            show_problems(form, error.problems)
        else:
            marked = record.allocation
            flash(f"The allocation of referral {format_reference(marked.referral_id)} (slot "
                  f"{marked.slot} of {marked.stratum}) marked as randomised in error", "success")
            return redirect(url_for("trial.edit", trial_id=trial.id))
    return _render_edit(trial, error_form=form, status=422)


@bp.route("/allocations")
@require(Permission.ALLOCATION_REPORT)
def report():
    all_trials = db.session.scalars(select(Trial).order_by(Trial.name)).all()
    form = ReportForm(request.args)
    form.trial.choices = choices((t.id, t.name) for t in all_trials)
    chosen = next((t for t in all_trials if str(t.id) == form.trial.data), None)
    chosen = chosen or (all_trials[0] if all_trials else None)
    report = services.allocation_report(chosen, site_ids=visible_site_ids()) if chosen else None
    if report and not current_user.can(Permission.CASE_READ):
        report = report.for_evaluators()
    if report and current_user.can(Permission.TRIAGE_DECIDE):
        report = report.for_deciders()  # they randomise: nothing of what comes next
    if chosen:
        form.trial.data = str(chosen.id)
        audit.record(Action.ALLOCATION_REPORT_VIEWED, actor=current_user, now=utcnow(),
                     subject_type="trial", subject_id=chosen.id)
    return render_template("trial/report.html", form=form, report=report)
