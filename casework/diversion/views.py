from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from casework.access import deny, get_visible_or_404, list_scope, require
from casework.accounts.roles import Permission
from casework.audit import services as audit
from casework.audit.actions import Action
from casework.database import ChangedMeanwhile, local_today, utcnow
from casework.diversion import bp, services
from casework.diversion.forms import (
    CheckpointForm,
    DecisionForm,
    LaterOutcomeForm,
    OffenceForm,
    OfferForm,
    Outcome22Form,
    OutcomeCodeForm,
    StepForm,
)
from casework.diversion.models import Assessment, DiversionCase, Offence, OutcomeCode
from casework.diversion.states import CaseStatus
from casework.eligibility import checkpoint, cirv, outcome22
from casework.eligibility.offences import CATEGORIES
from casework.extensions import db
from casework.forms import changed_meanwhile, choices, refused, show_problems
from casework.intake import services as intake
from casework.intake.models import Person
from casework.submissions import AlreadySubmitted, check_earlier
from casework.triage import exclusions

FORMS = {"checkpoint": CheckpointForm, "outcome22": Outcome22Form}
STEP_LABELS = {CaseStatus.ACTIVE: "Started", CaseStatus.COMPLETED: "Completed",
               CaseStatus.FAILED: "Failed: re-referred to police",
               CaseStatus.WITHDRAWN: "Withdrawn"}


def _settings() -> services.Settings:
    return services.Settings.from_config(current_app.config)


def _person(person_id: int) -> Person:
    return get_visible_or_404(intake.visible_people(current_user), Person, person_id,
                              subject_type="person")


@bp.route("/people/<int:person_id>/assessments/new/<scheme>", methods=["GET", "POST"])
@require(Permission.DIVERSION_ASSESS)
def new(person_id: int, scheme: str):
    if scheme not in FORMS:
        abort(404)
    person = _person(person_id)
    form = FORMS[scheme]().with_catalogue(services.offences(), services.outcome_codes())
    if form.validate_on_submit():
        try:
            assessment = services.assess_data(person, scheme, form.facts(person),
                                              actor=current_user, now=utcnow(),
                                              settings=_settings(),
                                              submission=form.submission.data)
        except services.DiversionError as error:
            db.session.rollback()
            show_problems(form, error.problems)
        except AlreadySubmitted as sent:  # a double click: the first recorded it
            db.session.rollback()
            return _already_saved(sent.earlier, url_for("intake.person", person_id=person.id))
        else:
            flash(f"{services.SCHEMES[scheme]} assessment recorded", "success")
            return redirect(url_for("diversion.assessment", assessment_id=assessment.id))
    status = 422 if form.errors or form.form_errors else 200
    intake.person_shown(person, page=request.endpoint)
    return render_template(f"diversion/new_{scheme}.html", form=form, person=person), status


def _already_saved(earlier, elsewhere: str):
    """The answer to an assessment, offer or step form sent again: the
    assessment it recorded, offered or stepped (someone else's key, or another kind of form's:
    ``elsewhere``, and nothing about theirs)."""
    model = {"assessment": Assessment, "diversion_case": DiversionCase,
             "diversion_step": DiversionCase}.get(earlier.subject_type)
    record = db.session.get(model, earlier.subject_id) \
        if model and earlier.subject_id is not None else None
    if record is None:
        flash("This form was already sent", "info")
        return redirect(elsewhere)
    flash("This was already saved: it is recorded once", "info")
    assessment_id = record.id if model is Assessment else record.assessment_id
    return redirect(url_for("diversion.assessment", assessment_id=assessment_id))


def _assessment(assessment_id: int) -> Assessment:
    """An assessment of a person the user may see (``services.visible_assessments``)."""
    return get_visible_or_404(services.visible_assessments(current_user), Assessment,
                              assessment_id, subject_type="assessment")


def _case(case_id: int) -> DiversionCase:
    """A diversion case of a person the user may see (``services.visible_cases``)."""
    return get_visible_or_404(services.visible_cases(current_user), DiversionCase, case_id,
                              subject_type="diversion_case")


def _render(assessment: Assessment, *, decision_form=None, step_form=None, later_form=None,
            status: int = 200):
    """The assessment page (also sent back, 422, with a form's errors): each
    drawing of it is audited as a view."""
    audit.viewed(Action.ASSESSMENT_VIEWED, subject_type="assessment", subject_id=assessment.id,
                 site_id=assessment.site_id)
    case = assessment.case
    step_form = step_form or StepForm()
    if case is not None:
        step_form.target.choices = _step_choices(case)
        step_form.version.data = services.case_version(case)  # as it is drawn now
    later_form = later_form or LaterOutcomeForm()
    codes = services.outcome_codes()
    later_form.code.choices = choices([("", "Select")] + [(c, f"{c}: {t}")
                                                          for c, t in codes.items()])
    return render_template(
        "diversion/assessment.html", assessment=assessment, case=case,
        decision_form=decision_form or DecisionForm(), offer_form=OfferForm(),
        step_form=step_form, later_form=later_form, codes=codes,
        offences={o.key: o for o in services.offences()},
        overdue=case is not None and services.overdue(case, local_today()),
    ), status


@bp.route("/assessments/<int:assessment_id>")
@require(Permission.CASE_READ)
def assessment(assessment_id: int):
    record = _assessment(assessment_id)
    return _render(record)


@bp.route("/assessments/<int:assessment_id>/decision", methods=["POST"])
@require(Permission.DIVERSION_DECIDE)
def decide(assessment_id: int):
    record = _assessment(assessment_id)
    form = DecisionForm()
    if not refused(form, services.decision_refusal(record)) and form.validate_on_submit():
        try:
            services.decide(record, form.decision.data, form.rationale.data,
                            actor=current_user, now=utcnow())
        except services.DiversionError as error:
            db.session.rollback()
            show_problems(form, error.problems)
        else:
            flash("Decision recorded", "success")
            return redirect(url_for("diversion.assessment", assessment_id=record.id))
    return _render(record, decision_form=form, status=422)


@bp.route("/assessments/<int:assessment_id>/case", methods=["POST"])
@require(Permission.DIVERSION_ASSESS)
def offer(assessment_id: int):
    record = _assessment(assessment_id)
    form = OfferForm()
    if form.validate_on_submit():
        try:
            services.offer(record, actor=current_user, now=utcnow(),
                           submission=form.submission.data)
        except services.DiversionError as error:
            flash(next(iter(error.problems.values())), "error")
        except AlreadySubmitted as sent:  # a double click: the first offered it
            db.session.rollback()
            return _already_saved(sent.earlier, url_for("diversion.assessment",
                                                        assessment_id=record.id))
        else:
            flash("Diversion offered", "success")
    return redirect(url_for("diversion.assessment", assessment_id=record.id))


def _step_choices(case: DiversionCase) -> list:
    return choices((s.value, STEP_LABELS[s]) for s in services.steps_for(case, current_user))


@bp.route("/diversion/<int:case_id>/step", methods=["POST"])
@require(Permission.DIVERSION_ASSESS)
def step(case_id: int):
    case = _case(case_id)
    form = StepForm()  # (its values as the fields read them: without NUL)
    if form.target.data in services.ENDINGS and not current_user.can(Permission.DIVERSION_DECIDE):
        deny(403, reason="role", permission=Permission.DIVERSION_DECIDE.value,
             subject_type="diversion_case", subject_id=case.id, site_id=case.site_id)
    form.target.choices = _step_choices(case)
    try:  # sent again: the first click's step, not a change "after this page was opened"
        check_earlier(form.submission.data, "diversion_step", actor=current_user)
    except AlreadySubmitted as sent:
        return _already_saved(sent.earlier, url_for("diversion.assessment",
                                                    assessment_id=case.assessment_id))
    # the case as the page showed it, before the choice is checked against now's
    refusal = services.step_refusal(case, current_user, based_on=form.version.data)
    if not refused(form, refusal) and form.validate_on_submit():
        try:
            services.advance(case, services.Step(form.target.data, form.on.data,
                                                 form.reason.data, form.version.data,
                                                 form.submission.data),
                             actor=current_user, now=utcnow(), settings=_settings())
        except AlreadySubmitted as sent:  # (the first was still being written)
            db.session.rollback()
            return _already_saved(sent.earlier, url_for("diversion.assessment",
                                                        assessment_id=case.assessment_id))
        except services.DiversionError as error:
            db.session.rollback()
            show_problems(form, error.problems)
        else:
            flash(f"Diversion {STEP_LABELS[CaseStatus(form.target.data)].lower()}", "success")
            return redirect(url_for("diversion.assessment", assessment_id=case.assessment_id))
    return _render(case.assessment, step_form=form, status=422)


@bp.route("/diversion/<int:case_id>/later-outcome", methods=["POST"])
@require(Permission.DIVERSION_DECIDE)
def later_outcome(case_id: int):
    case = _case(case_id)
    form = LaterOutcomeForm()
    form.code.choices = choices([("", "Select")] + [(c, t) for c, t in
                                                    services.outcome_codes().items()])
    if not refused(form, services.later_outcome_refusal(case)) and form.validate_on_submit():
        try:
            services.record_later_outcome(case, int(form.code.data), actor=current_user,
                                          now=utcnow())
        except services.DiversionError as error:
            db.session.rollback()
            show_problems(form, error.problems)
        else:
            flash("Outcome recorded", "success")
            return redirect(url_for("diversion.assessment", assessment_id=case.assessment_id))
    return _render(case.assessment, later_form=form, status=422)


@bp.route("/diversion")
@require(Permission.CASE_READ)
def cases():
    """The diversion cases of the user's sites, or of one of them (``site``),
    by due date: offered or active, overdue, due soon (the dashboard's
    figures) or of one status; the first CASES_SHOWN, saying so when there
    are more."""
    today = local_today()
    show = request.args.get("show", "open")
    scope = list_scope()
    site_ids = scope.site_ids
    shown = services.CASES_SHOWN
    if show == "overdue":
        rows = services.cases(site_ids, overdue_on=today, limit=shown + 1)
    elif show == "due":
        rows = services.cases(site_ids, due_soon_on=today, limit=shown + 1)
    elif show in {s.value for s in CaseStatus}:
        rows = services.cases(site_ids, status=show, limit=shown + 1)
    else:
        show = "open"
        rows = services.cases(site_ids, status=(CaseStatus.OFFERED, CaseStatus.ACTIVE),
                              limit=shown + 1)
    more, rows = len(rows) > shown, rows[:shown]
    audit.viewed(Action.DIVERSION_LISTED, show=show, shown=len(rows), **scope.audited)
    return render_template("diversion/cases.html", rows=rows, show=show, today=today,
                           overdue=services.overdue, site=scope.site, more=more,
                           due_soon_days=services.DUE_SOON_DAYS)


@bp.route("/rules")
@require(Permission.CASE_READ, Permission.RULESET_MANAGE, Permission.AGGREGATE_READ)
def rules():
    """The eligibility rules as the code holds them: criteria, CIRV's
    exclusions offered now (C5), the Outcome 22 intensity table and the
    offence catalogue, all read from their sources."""
    return render_template(
        "diversion/rules.html",
        schemes=[
            ("CIRV", cirv.RULESET_VERSION, cirv.CRITERIA, cirv.LOCKED_CRITERIA),
            ("Checkpoint", checkpoint.RULESET_VERSION, checkpoint.CRITERIA,
             checkpoint.LOCKED_CRITERIA),
            ("Outcome 22", outcome22.RULESET_VERSION, outcome22.CRITERIA,
             outcome22.LOCKED_CRITERIA),
        ],
        intensity=_settings().minimum_intensity, intensities=outcome22.INTENSITIES,
        offences=services.offences(), categories=CATEGORIES, codes=services.outcome_codes(),
        checkpoint_offences=checkpoint.ELIGIBLE_OFFENCES,
        settings=_settings(), exclusions=exclusions.offered(),
    )


# reference data administration

@bp.route("/admin/offences")
@require(Permission.RULESET_MANAGE)
def offences():
    return render_template("diversion/offences.html", offences=services.offences(),
                           categories=CATEGORIES, codes=services.outcome_codes())


@bp.route("/admin/offences/<key>", methods=["GET", "POST"])
@require(Permission.RULESET_MANAGE)
def edit_offence(key: str):
    offence = db.session.query(Offence).filter_by(key=key).one_or_none()
    if offence is None:
        abort(404)
    form = OffenceForm(obj=None if request.method == "POST" else offence)
    if not form.is_submitted():
        form.version.data = services.offence_version(offence)
    if form.validate_on_submit():
        try:
            services.update_offence(offence, services.OffenceChange(
                form.title.data, form.legislation.data, form.category.data, form.gravity.data,
                form.outcome22_permitted.data), actor=current_user, now=utcnow(),
                based_on=form.version.data)
        except services.DiversionError as error:
            db.session.rollback()
            show_problems(form, error.problems)
        except ChangedMeanwhile as error:
            db.session.rollback()
            changed_meanwhile(form, error)
        else:
            flash(f"{offence.title} saved", "success")
            return redirect(url_for("diversion.offences"))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("diversion/edit_offence.html", form=form, offence=offence), status


@bp.route("/admin/outcome-codes/<int:code>", methods=["GET", "POST"])
@require(Permission.RULESET_MANAGE)
def edit_outcome_code(code: int):
    record = db.session.get(OutcomeCode, code)
    if record is None:
        abort(404)
    form = OutcomeCodeForm(obj=None if request.method == "POST" else record)
    if form.validate_on_submit():
        try:
            services.update_outcome_code(record, form.title.data, actor=current_user,
                                         now=utcnow())
        except services.DiversionError as error:
            db.session.rollback()
            show_problems(form, error.problems)
        else:
            flash(f"Outcome {code} saved", "success")
            return redirect(url_for("diversion.offences"))
    status = 422 if form.errors or form.form_errors else 200
    return render_template("diversion/edit_outcome_code.html", form=form, code=record), status
